// Compiles the rule schema with ajv in strict mode (draft 2020-12): unknown keywords, unknown
// formats, and keywords that do not apply to the type are errors. Then validates every example
// rule file against it, so the schema is neither broken nor narrower than the format.
"use strict";
const fs = require("fs");
const path = require("path");
const Ajv2020 = require("ajv/dist/2020");
const YAML = require("yaml");

const [schemaFile, ...ruleFiles] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: true, allErrors: true });
let validate;
try {
  validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
} catch (error) {
  console.error(`${schemaFile}: refused in strict mode: ${error.message}`);
  process.exit(1);
}
console.log(`${schemaFile}: valid under ajv ${require("ajv/package.json").version} (draft 2020-12, strict)`);
let failed = 0;
for (const file of ruleFiles) {
  const document = YAML.parse(fs.readFileSync(file, "utf8"));
  if (validate(document)) {
    console.log(`  ${path.basename(file)}: matches`);
  } else {
    failed += 1;
    console.error(`  ${file}: does not match the schema:`);
    for (const error of validate.errors) console.error(`    ${error.instancePath} ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
