/* Test-only: Wine 8 lacks ProcessPrng (bcryptprimitives.dll), which Rust's standard library
 * imports on Windows, so every Rust exe aborts at start under it. This DLL, placed next to the
 * exe under test, exports it by filling the buffer from RtlGenRandom (advapi32's
 * SystemFunction036). It is built by tests/windows/build and never ships in a release. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
