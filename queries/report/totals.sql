-- totals: the report's headline numbers, one row. Everything here reads the materialized detection tables
-- (prompts, loops, clusters) or period_sign_ins, never the lake, so it also serves the previous period's
-- totals for day-over-day change at little more than the cost of detection.
-- "Loops" are reauth_loop runs only: MFA-denial and failure bursts are counted apart because they call for
-- a different response (an attack, not a broken client).

with counts as (
    select * from period_sign_ins where not per_session
),

prompted as (
    select distinct session_key from prompts
)

select
    coalesce((select sum(sign_ins) from counts), 0)::bigint as sign_ins,
    coalesce((select sum(sign_ins) filter (where interactive) from counts), 0)::bigint as interactive_sign_ins,
    (select count(*) from prompts) as prompts,
    (
        select count(distinct user_key)
        from period_sign_ins
        semi join prompted using (session_key)
        where per_session
    ) as users_prompted,
    (select count(*) from loops where kind = 'reauth_loop') as loops,
    (select count(distinct user_key) from loops where kind = 'reauth_loop') as looping_users,
    coalesce((select sum(prompt_count) from loops where kind = 'reauth_loop'), 0)::bigint as loop_prompts,
    (select count(*) from clusters) as clusters,
    (select count(*) from loops where kind = 'mfa_denial_burst') as denial_bursts,
    (select count(*) from loops where kind = 'failure_burst') as failure_bursts,
    strftime((select max(newest) from counts), '%Y-%m-%dT%H:%M:%S.%gZ') as data_through
