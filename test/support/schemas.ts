import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { REPO } from './tmp';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);

/** Validate against a schema in schemas/; returns the error list (empty when valid) for readable failures. */
export function schemaErrors(name: string, value: unknown): string[] {
  const id = `schemas/${name}`;
  let validate = ajv.getSchema(id);
  if (!validate) {
    ajv.addSchema(JSON.parse(readFileSync(join(REPO, 'schemas', name), 'utf8')), id);
    validate = ajv.getSchema(id)!;
  }
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
