-- sign_ins: every landed sign-in, with its outcome class.
-- The only query that reads the lake (`lake_sign_ins`, a view the loader creates over whole Parquet files).
-- A view, not a table: later layers and analysts' queries read only the columns and partitions they name,
-- so `raw` and the JSON columns are never loaded unless asked for. The time window is applied by
-- detect/prompts.sql, and DuckDB pushes it down through this view to the Parquet scan.
-- `outcome` comes from reference/error_codes.csv (`error_codes`), so re-classifying a code needs no re-import:
-- success, interrupt, reauth_trigger, failure, mfa_denied, block, loop_signal; a code not in the table is a
-- failure, and a record with no code at all is unknown.
-- @view

select
    lake_sign_ins.*,
    case
        when lake_sign_ins.error_code is null then 'unknown'
        when lake_sign_ins.error_code = 0 then 'success'
        else coalesce(codes.outcome, 'failure')
    end as outcome
from lake_sign_ins
left join error_codes as codes on codes.error_code = lake_sign_ins.error_code
