-- explain_codes: each error code of a loop (most frequent first, as the loop lists them) with its meaning and
-- class from reference/error_codes.csv and how many of the loop's evidence rows carry it. A code the table
-- does not know is classed as a failure, as staging/sign_ins does.

with the_loop as (
    select loops.user_key, flagged_sessions.error_codes, flagged_sessions.sign_in_ids
    from loops
    join flagged_sessions using (loop_id)
    where loop_id = $loop_id
),

listed as (
    select unnest(error_codes) as code, generate_subscripts(error_codes, 1) as position
    from the_loop
),

evidence_codes as (
    select s.error_code as code, count(*) as n
    from sign_ins as s
    join the_loop on coalesce(s.user_id, s.user_principal_name) = the_loop.user_key
    where list_contains(the_loop.sign_in_ids, s.sign_in_id)
    group by s.error_code
)

select
    listed.code as error_code,
    coalesce(codes.outcome, 'failure') as outcome,
    coalesce(codes.meaning, 'not in queries/reference/error_codes.csv (counted as a failure)') as meaning,
    coalesce(evidence_codes.n, 0) as evidence_rows
from listed
left join error_codes as codes on codes.error_code = listed.code
left join evidence_codes on evidence_codes.code = listed.code
order by listed.position
