/* Test-only: stands in for LeagueClientUx.exe. It does nothing but stay alive for as long as
 * the test needs, so that lcu-rules can find it in the process list and read the
 * --app-port= and --remoting-auth-token= flags from its command line. */
#include <windows.h>

int main(void) {
    Sleep(10 * 60 * 1000);
    return 0;
}
