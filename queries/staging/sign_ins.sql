-- sign_ins: every landed sign-in in the window, with its outcome class.
-- The only query that reads the lake (`lake_sign_ins`, a view the loader creates over whole Parquet files).
-- `outcome` comes from reference/error_codes.csv (`error_codes`), so re-classifying a code needs no re-import:
-- success, interrupt, reauth_trigger, failure, mfa_denied, block, loop_signal; a code not in the table is a
-- failure, and a record with no code at all is unknown.
-- @param from TIMESTAMP = 1970-01-01 00:00:00 : start of the window, inclusive (UTC)
-- @param to TIMESTAMP = 2199-01-01 00:00:00 : end of the window, exclusive (UTC)

with windowed as (
    select *
    from lake_sign_ins
    -- the date test prunes whole partitions before any row is read
    where date between cast($from as date) and cast($to as date)
        and created_at >= $from
        and created_at < $to
),

classified as (
    select
        windowed.*,
        case
            when windowed.error_code is null then 'unknown'
            when windowed.error_code = 0 then 'success'
            else coalesce(codes.outcome, 'failure')
        end as outcome
    from windowed
    left join error_codes as codes on codes.error_code = windowed.error_code
)

select * from classified
