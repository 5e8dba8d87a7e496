-- user_events: every sign-in row of one user in a period, oldest first, for `reauth-loops user` (the
-- TimelineEvent of pipeline/report/types.ts). Materialized: user_devices and user_ips summarize it.
-- kind says what the user saw:
--   prompt      an interactive row inside a prompt flow (detect/prompts: the user had to act)
--   silent      an interactive row outside any prompt: single sign-on the user did not notice
--   background  a non-interactive row: an app refreshing its tokens
-- A row belongs to a flow when it lies between the flow's first and last row on the same user + app + device,
-- the same test detect/episodes uses for a run's rows. loop_id is the loop the row is evidence of.

with mine as (
    select *
    from sign_ins
    -- the date test prunes whole partitions before any row is read
    where date between cast($since as date) and cast($until as date)
        and created_at >= $since
        and created_at < $until
        and principal_kind = 'user'
        and coalesce(user_id, user_principal_name) = $user_key
),

in_prompt as (
    select distinct mine.record_key
    from mine
    join prompts
        on prompts.session_key = mine.session_key
        and mine.created_at between prompts.start and prompts."end"
    where mine.is_interactive
),

evidence as (
    -- a background refusal can count for two runs of one user and app (two devices): the first loop wins
    select sign_in_id, min(loop_id) as loop_id
    from (select loop_id, unnest(sign_in_ids) as sign_in_id from loops where user_key = $user_key)
    group by sign_in_id
)

select
    strftime(mine.created_at, '%Y-%m-%dT%H:%M:%S.%gZ') as created_at,
    case
        when not mine.is_interactive then 'background'
        when in_prompt.record_key is not null then 'prompt'
        else 'silent'
    end as kind,
    mine.outcome,
    mine.error_code,
    mine.app_display_name,
    mine.device_os,
    mine.device_id,
    mine.ip_address,
    mine.user_agent,
    -- a record without an id was keyed by its bytes on import; it cannot be evidence of a loop
    coalesce(mine.sign_in_id, '') as sign_in_id,
    evidence.loop_id
from mine
left join in_prompt using (record_key)
left join evidence on evidence.sign_in_id = mine.sign_in_id
order by mine.created_at, mine.is_interactive desc, mine.sign_in_id, mine.error_code
