-- error_code_counts: every non-zero error code seen in the period, with its meaning and outcome class from
-- reference/error_codes.csv (NULL for a code the table does not know), how many sign-ins carried it, and how
-- many of those are evidence of a flagged loop or burst (period_sign_ins says which).

with counts as (
    select
        error_code,
        sum(sign_ins)::bigint as sign_ins,
        coalesce(sum(sign_ins) filter (where in_loop), 0)::bigint as in_loops
    from period_sign_ins
    where not per_session and error_code <> 0
    group by error_code
)

select
    counts.error_code as code,
    codes.outcome,
    codes.meaning,
    counts.sign_ins,
    counts.in_loops
from counts
left join error_codes as codes using (error_code)
order by counts.sign_ins desc, code
