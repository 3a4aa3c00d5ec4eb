// Asks yaml-language-server (what VS Code's YAML extension runs) for completions in a rule
// file, as an editor does: initialize on the file's folder, send the folder's settings, open the
// file, ask at a position. Prints one label per line. Usage: complete.js FILE LINE COL [SETTINGS]
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");

const [file, line, character] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const settings = process.argv[5] ? JSON.parse(fs.readFileSync(process.argv[5], "utf8")) : {};
const folder = path.dirname(file);
const server = spawn(process.execPath, [require.resolve("yaml-language-server/bin/yaml-language-server"), "--stdio"]);
let buffer = Buffer.alloc(0);
let nextId = 1;
const pending = new Map();
function send(message) {
  const text = JSON.stringify({ jsonrpc: "2.0", ...message });
  server.stdin.write(`Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}
function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve) => pending.set(id, resolve));
}
const yamlSettings = {
  validate: true, completion: true, hover: true, schemaStore: { enable: false },
  // As VS Code passes them from the folder's .vscode/settings.json: the server resolves the
  // relative schema path against the workspace folder itself.
  schemas: settings["yaml.schemas"] || {},
};
server.stdout.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const header = buffer.indexOf("\r\n\r\n");
    if (header < 0) return;
    const length = Number(/Content-Length: (\d+)/.exec(buffer.slice(0, header).toString())[1]);
    if (buffer.length < header + 4 + length) return;
    const message = JSON.parse(buffer.slice(header + 4, header + 4 + length).toString());
    buffer = buffer.slice(header + 4 + length);
    if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message.result);
      pending.delete(message.id);
    } else if (message.method === "workspace/configuration") {
      send({ id: message.id, result: message.params.items.map((i) => (i.section === "yaml" ? yamlSettings : {})) });
    } else if (message.id !== undefined && message.method) {
      send({ id: message.id, result: null });
    }
  }
});
(async () => {
  await request("initialize", {
    processId: process.pid, rootUri: pathToFileURL(folder).href,
    capabilities: { workspace: { configuration: true }, textDocument: { completion: { completionItem: { snippetSupport: true } } } },
    workspaceFolders: [{ uri: pathToFileURL(folder).href, name: "rules" }],
  });
  send({ method: "initialized", params: {} });
  send({ method: "workspace/didChangeConfiguration", params: { settings: { yaml: yamlSettings } } });
  const uri = pathToFileURL(file).href;
  send({ method: "textDocument/didOpen", params: { textDocument: { uri, languageId: "yaml", version: 1, text: fs.readFileSync(file, "utf8") } } });
  // The server pulls its settings (workspace/configuration) after the change notice.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const result = await request("textDocument/completion", { textDocument: { uri }, position: { line, character } });
  const items = Array.isArray(result) ? result : (result && result.items) || [];
  for (const item of items) console.log(item.label);
  server.kill();
  process.exit(0);
})();
setTimeout(() => { console.error("no answer from yaml-language-server"); process.exit(2); }, 20000);
