-- hourly: one row per hour of the period, every hour present (a quiet hour is a zero, not a gap in the chart).
-- Sign-ins come from period_sign_ins, prompts by the hour they started, and looping users from the reauth
-- loops: a user counts in every hour their loop touched, so a loop from 09:50 to 10:10 shows in both hours.

with hours as (
    select unnest(range(date_trunc('hour', $from), $to, interval 1 hour)) as hour
),

sign_in_hours as (
    select hour, sum(sign_ins)::bigint as sign_ins
    from period_sign_ins
    where not per_session
    group by hour
),

prompt_hours as (
    select date_trunc('hour', start) as hour, count(*) as prompts
    from prompts
    group by all
),

loop_hours as (
    select hour, count(distinct user_key) as looping_users
    from (
        select
            user_key,
            unnest(range(date_trunc('hour', start), date_trunc('hour', "end") + interval 1 hour, interval 1 hour)) as hour
        from loops
        where kind = 'reauth_loop'
    )
    group by hour
)

select
    strftime(hours.hour, '%Y-%m-%dT%H:%M:%S.%gZ') as hour,
    coalesce(sign_in_hours.sign_ins, 0) as sign_ins,
    coalesce(prompt_hours.prompts, 0) as prompts,
    coalesce(loop_hours.looping_users, 0) as looping_users
from hours
left join sign_in_hours using (hour)
left join prompt_hours using (hour)
left join loop_hours using (hour)
order by hours.hour
