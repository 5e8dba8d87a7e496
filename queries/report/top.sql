-- top: which apps, operating systems and clients the reauth loops were on, the ten biggest of each.
-- Ranked by loops, then users, then name, so ties come out in the same order every run. A missing value is
-- shown as "(unknown)" rather than dropped: a loop with no device OS is still a loop.

with reauth as (
    select * from loops where kind = 'reauth_loop'
),

by_dimension as (
    select 'app' as dimension, coalesce(app_display_name, app_id, '(unknown)') as name, user_key, prompt_count from reauth
    union all
    select 'os', coalesce(device_os, '(unknown)'), user_key, prompt_count from reauth
    union all
    select 'client', coalesce(client_app_used, '(unknown)'), user_key, prompt_count from reauth
),

ranked as (
    select
        dimension,
        name,
        count(*) as loops,
        count(distinct user_key) as users,
        sum(prompt_count)::bigint as prompts,
        row_number() over (partition by dimension order by count(*) desc, count(distinct user_key) desc, name) as rank
    from by_dimension
    group by dimension, name
)

select dimension, name, loops, users, prompts
from ranked
where rank <= 10
order by dimension, rank
