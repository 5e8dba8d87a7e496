import { SIGN_IN_COLUMNS, type SqlType } from '../normalize/columns';

/** schemas/sign-in.schema.json is this function's output; a test fails when the file and columns.ts differ. */
export function signInSchema(): Record<string, unknown> {
  const json: Record<SqlType, object> = {
    VARCHAR: { type: ['string', 'null'] },
    JSON: { type: ['string', 'null'], contentMediaType: 'application/json' },
    TIMESTAMP: { type: ['string', 'null'], description: 'UTC, as DuckDB prints TIMESTAMP: YYYY-MM-DD HH:MM:SS[.ffffff]' },
    INTEGER: { type: ['integer', 'null'] },
    BIGINT: { type: ['integer', 'null'] },
    UBIGINT: { type: ['integer', 'null'], minimum: 0 },
    BOOLEAN: { type: ['boolean', 'null'] },
  };
  const properties: Record<string, object> = {};
  for (const c of SIGN_IN_COLUMNS) properties[c.name] = { ...json[c.type], description: `${c.doc} (Parquet/DuckDB ${c.type})` };
  properties.date = { type: 'string', format: 'date', description: 'Hive partition: event date (UTC) of created_at' };
  properties.hour = { type: 'integer', minimum: 0, maximum: 23, description: 'Hive partition: event hour (UTC) of created_at' };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://reauth-loops.example/schemas/sign-in.schema.json',
    title: 'Normalized sign-in row (lake: sign_ins/date=YYYY-MM-DD/hour=HH/*.parquet)',
    description: 'One flat row per Entra sign-in record, whatever shape it arrived in. Generated from pipeline/normalize/columns.ts. The sign_ins view adds `outcome` from queries/reference/error_codes.csv.',
    type: 'object',
    required: [...SIGN_IN_COLUMNS.filter((c) => ['created_at', 'record_key', 'source_shape', 'raw', 'principal_kind'].includes(c.name)).map((c) => c.name), 'date', 'hour'],
    additionalProperties: false,
    properties,
  };
}

if (require.main === module) process.stdout.write(JSON.stringify(signInSchema(), null, 2) + '\n');
