-- explain_steps: a loop's prompts one by one, and the background refusals between them, in time order, for
-- `reauth-loops explain`. The run's prompts are the prompt flows of its user + app + device that start inside
-- it (runs are consecutive prompts, so nothing else starts there). gap_secs is what episodes.sql compares with
-- loop_gap_secs: the time from the previous prompt's last row to this prompt's first. The refusals are the
-- non-interactive rows among the loop's evidence whose outcome forces reauthentication.

with the_loop as (
    select loops.session_key, loops.user_key, loops.start, loops."end", flagged_sessions.sign_in_ids
    from loops
    join flagged_sessions using (loop_id)
    where loop_id = $loop_id
),

its_prompts as (
    select
        prompts.*,
        epoch(prompts.start - lag(prompts."end") over (order by prompts.start, prompts.flow_no)) as gap_secs,
        row_number() over (order by prompts.start, prompts.flow_no) as prompt_no
    from prompts
    join the_loop
        on prompts.session_key = the_loop.session_key
        and prompts.start between the_loop.start and the_loop."end"
),

prompt_rows as (
    select
        its_prompts.prompt_no,
        list(s.error_code order by s.created_at, s.error_code) filter (where s.error_code is not null) as codes,
        list(distinct s.ip_address) filter (where s.ip_address is not null) as ips
    from its_prompts
    join sign_ins as s
        on s.session_key = its_prompts.session_key
        and s.created_at between its_prompts.start and its_prompts."end"
    where s.principal_kind = 'user'
        and s.is_interactive
    group by its_prompts.prompt_no
),

refusals as (
    select s.created_at, s.error_code, s.sign_in_id, s.app_display_name, s.ip_address
    from sign_ins as s
    join the_loop on coalesce(s.user_id, s.user_principal_name) = the_loop.user_key
    where list_contains(the_loop.sign_in_ids, s.sign_in_id)
        and s.principal_kind = 'user'
        and not s.is_interactive
        and s.outcome in ('reauth_trigger', 'loop_signal')
)

select
    'prompt' as step,
    its_prompts.start as happened_at,
    its_prompts.prompt_no,
    strftime(its_prompts.start, '%Y-%m-%dT%H:%M:%S.%gZ') as start,
    strftime(its_prompts."end", '%Y-%m-%dT%H:%M:%S.%gZ') as "end",
    its_prompts.row_count,
    its_prompts.final_outcome as outcome,
    round(its_prompts.gap_secs, 1) as gap_secs,
    coalesce(prompt_rows.codes, []) as error_codes,
    coalesce(prompt_rows.ips, []) as ip_addresses,
    null::VARCHAR as sign_in_id
from its_prompts
left join prompt_rows using (prompt_no)
union all
select
    'refusal' as step,
    refusals.created_at as happened_at,
    null as prompt_no,
    strftime(refusals.created_at, '%Y-%m-%dT%H:%M:%S.%gZ') as start,
    null as "end",
    1 as row_count,
    null as outcome,
    null as gap_secs,
    [refusals.error_code] as error_codes,
    case when refusals.ip_address is null then [] else [refusals.ip_address] end as ip_addresses,
    refusals.sign_in_id
from refusals
order by happened_at, "step", sign_in_id
