-- episodes: loop *episodes*, one per user + app + device from its first qualifying prompt until it really
-- stops. Two tracks, never mixed:
--   prompts (flows that needed the user): a run is prompts each starting within loop_gap_secs of the last
--     one's end, a gap shorter than any sign-in policy asks for. Entra's strictest sign-in frequency
--     ("every time") still allows five minutes of clock skew, so nobody should be prompted more often than
--     every five minutes for one app; prompts 2-4 minutes apart for an hour are a (slow) loop.
--   silent sign-ins (flows.sql's needs_user = false): interactive sign-ins seconds apart that end in silent
--     SSO, which the user sees flash by without typing anything, and Entra's LoopDetected (50196).
-- A run counts when it has enough prompts (or silent sign-ins, or any 50196). Counting runs from the same
-- track less than pause_secs apart are one episode: a user who puts the phone down for a few minutes and
-- is asked again is in the same loop, not a new one. Everything between the episode's first and last
-- counting run belongs to it, short runs in the pauses included.
-- Non-interactive failures that force reauthentication (70043, 70044, 50173, ...) during an episode are
-- counted as evidence, not as prompts. Each episode is given a kind:
--   mfa_denial_burst  most prompts ended in a denied or unanswered MFA (500121): what MFA fatigue looks like
--   failure_burst     most prompts ended in a failure (bad password, block): guessing or a broken client
--   silent_loop       sign-ins seconds apart that asked nothing of the user, or LoopDetected (50196)
--   reauth_loop       otherwise: the user keeps being asked, and usually keeps succeeding
-- and a status as of the newest sign-in in the window (as_of), the one definition every reader uses:
--   looping                   its last prompt is less than pause_secs before as_of: it may go on
--   stopped_after_revocation  a revoked-grant refusal (50173, 50133: an admin revoked the sessions), then
--                             at most one more prompt (the user signing in again), then nothing
--   stopped                   otherwise
-- Runs are found on the narrow flows table; only counting episodes go back to sign_ins for their details.
-- loop_id here is the episode's natural id (its user, app, device and first prompt); loops.sql gives it
-- the id it was first found under, which never changes.
-- @param loop_gap_secs INTEGER = 299 : a prompt starting less than 5 min after the previous one's end continues the run (the policy floor is 5 min)
-- @param min_prompts INTEGER = 3 : 3 prompts in a run is more than one sign-in plus one retry; 2 prompts minutes apart is normal
-- @param pause_secs INTEGER = 900 : counting runs up to 15 min apart are one episode (the phone put down and picked up again); an hour-long sign-in frequency never joins two
-- @param silent_gap_secs INTEGER = 20 : silent interactive sign-ins at most 20 s apart continue a silent run: a client retrying at once, not a person opening windows
-- @param silent_min_signins INTEGER = 5 : 5 interactive sign-ins seconds apart that asked nothing of the user are a silent loop (an app opening a few windows makes 2-3)
-- @param min_denials INTEGER = 3 : a burst needs at least 3 denied MFA prompts (Okta and Splunk rules alert at 5 to 10; earlier is asked for)
-- @param severe_prompts INTEGER = 10 : 10 or more prompts in one episode is high severity (Sentinel's and Splunk's MFA-spam thresholds)

-- the two tracks. A LoopDetected (50196) flow is in both: inside a prompt loop it is that loop's signal,
-- on its own or among silent sign-ins it is a silent loop (a silent episode that overlaps a prompt episode of
-- the same session is left out below, so one loop is one finding).
with tracked as (
    select *, true as prompt_track from flows where needs_user or loop_signal_rows > 0
    union all
    select *, false as prompt_track from flows where not needs_user
),

flow_runs as (
    select
        *,
        case
            when lag("end") over run_order is null then 1
            when start - lag("end") over run_order
                > to_seconds(case when prompt_track then $loop_gap_secs else $silent_gap_secs end) then 1
            else 0
        end as starts_run,
        epoch(start - lag(start) over run_order) as gap_from_previous,
        case when lag(final_outcome) over run_order = 'success'
            then epoch(start - lag("end") over run_order) end as after_success_secs
    from tracked
    window run_order as (partition by session_key, prompt_track order by start, flow_no)
),

run_numbered as materialized (
    select
        *,
        sum(starts_run) over (partition by session_key, prompt_track order by start, flow_no rows unbounded preceding) as run_no
    from flow_runs
),

counting_runs as (
    select session_key, prompt_track, run_no, min(start) as start, max("end") as "end"
    from run_numbered
    group by session_key, prompt_track, run_no
    having case when prompt_track then count(*) filter (where needs_user) >= $min_prompts
        else count(*) >= $silent_min_signins or sum(loop_signal_rows) > 0 end
),

episode_marks as (
    select
        *,
        case
            when lag("end") over episode_order is null then 1
            when start - lag("end") over episode_order > to_seconds($pause_secs) then 1
            else 0
        end as starts_episode
    from counting_runs
    window episode_order as (partition by session_key, prompt_track order by start)
),

episode_spans as (
    select session_key, prompt_track, episode_no, min(start) as start, max("end") as "end"
    from (
        select *, sum(starts_episode) over (partition by session_key, prompt_track order by start rows unbounded preceding) as episode_no
        from episode_marks
    )
    group by all
),

-- every flow of the track from the episode's first counting run to its last
episode_flows as (
    select
        run_numbered.*,
        -- unique per session key across both tracks
        episode_spans.episode_no * 2 + case when run_numbered.prompt_track then 0 else 1 end as episode_no,
        run_numbered.start > episode_spans.start as continues
    from run_numbered
    join episode_spans
        on episode_spans.session_key = run_numbered.session_key
        and episode_spans.prompt_track = run_numbered.prompt_track
        and run_numbered.start between episode_spans.start and episode_spans."end"
),

-- materialized (here, in described and evidence_rows): each is read by two later steps, and
-- DuckDB would otherwise compute it twice
episodes as materialized (
    select
        session_key,
        episode_no as run_no,
        any_value(prompt_track) as prompt_track,
        min(start) as start,
        max("end") as "end",
        count(*) as prompt_count,
        -- pauses longer than a run's gap inside the episode: 0 for one continuous run
        count(*) filter (where continues and starts_run = 1) as pause_count,
        count(*) filter (where final_outcome = 'success') as success_prompts,
        count(*) filter (where final_outcome = 'mfa_denied' or denial_rows > 0 and final_outcome <> 'success') as denied_prompts,
        count(*) filter (where final_outcome in ('failure', 'block', 'unknown')) as failed_prompts,
        -- a success after the first denial is the MFA-fatigue case that matters most
        max(start) filter (where final_outcome = 'success') as last_success_at,
        min(start) filter (where final_outcome = 'mfa_denied' or denial_rows > 0) as first_denial_at,
        -- BIGINT, not the HUGEINT a sum gives: the findings store's Parquet has no HUGEINT (it would be a DOUBLE)
        sum(success_rows)::BIGINT as success_count,
        sum(interrupt_rows)::BIGINT as interrupt_count,
        sum(failure_rows + denial_rows)::BIGINT as failure_count,
        sum(denial_rows)::BIGINT as denial_count,
        sum(loop_signal_rows)::BIGINT as loop_signal_count,
        median(gap_from_previous) filter (where continues and starts_run = 0) as median_gap_seconds,
        median(after_success_secs) filter (where continues and starts_run = 0) as median_reprompt_seconds,
        max(after_success_secs) filter (where continues and starts_run = 0) as max_reprompt_seconds,
        list(start order by start) as prompt_times
    from episode_flows
    group by session_key, episode_no
),

runs as materialized (
    select *
    from episodes as e
    where e.prompt_track
        or not exists (
            select 1 from episodes as p
            where p.prompt_track
                and p.session_key = e.session_key
                and e.start <= p."end" + to_seconds($loop_gap_secs)
                and e."end" >= p.start - to_seconds($loop_gap_secs)
        )
),

-- the interactive rows of each episode, for its evidence and descriptive fields.
-- Read once, by details, and streamed into its aggregate: materialized, these wide rows (every descriptive
-- string of ~2M rows at 10M sign-ins) spilled to disk under a 1 GB memory limit.
run_rows as (
    select
        runs.session_key,
        runs.run_no,
        s.created_at,
        s.sign_in_id,
        s.error_code,
        s.ip_address,
        s.tenant_id,
        s.user_id,
        s.user_principal_name,
        s.user_display_name,
        s.app_id,
        s.app_display_name,
        s.device_id,
        s.device_os,
        s.client_app_used,
        s.user_agent,
        s.user_app_key
    from runs
    join sign_ins as s
        on s.session_key = runs.session_key
        and s.created_at between runs.start and runs."end"
    where s.principal_kind = 'user'
        and s.is_interactive
        -- the window (an update re-derives from $from on): whole partitions and row groups before it are skipped
        and s.date >= cast($from as date)
        and s.created_at >= $from
),

details as (
    select
        session_key,
        run_no,
        any_value(coalesce(user_id, user_principal_name)) as user_key,
        any_value(coalesce(app_id, app_display_name, '')) as app_key,
        any_value(coalesce(device_id, '')) as device_key,
        any_value(user_app_key) as user_app_key,
        list(sign_in_id) as sign_in_ids,
        -- the prompts' error codes, counted in code_counts (so that run_rows has a single reader)
        list(error_code) filter (where error_code is not null and error_code <> 0) as prompt_codes,
        list_sort(list_distinct(list(ip_address))) as ip_addresses,
        -- the latest value in the run: cheaper than the most frequent, and what the user sees now
        arg_max(tenant_id, created_at) as tenant_id,
        arg_max(user_id, created_at) as user_id,
        arg_max(user_principal_name, created_at) as user_principal_name,
        arg_max(user_display_name, created_at) as user_display_name,
        arg_max(app_id, created_at) as app_id,
        arg_max(app_display_name, created_at) as app_display_name,
        arg_max(device_id, created_at) as device_id,
        arg_max(device_os, created_at) as device_os,
        arg_max(client_app_used, created_at) as client_app_used,
        arg_max(user_agent, created_at) as user_agent
    from run_rows
    group by session_key, run_no
),

described as materialized (
    select runs.*, details.* exclude (session_key, run_no)
    from runs
    join details using (session_key, run_no)
),

-- non-interactive reauthentication refusals for the same user and app while the run lasted
refusals as (
    select
        user_app_key,
        created_at,
        error_code,
        sign_in_id
    from sign_ins
    where principal_kind = 'user'
        and not is_interactive
        and outcome in ('reauth_trigger', 'loop_signal')
        -- evidence reaches loop_gap_secs before a run's first prompt, which is in the window
        and date >= cast($from - to_seconds($loop_gap_secs) as date)
        and created_at >= $from - to_seconds($loop_gap_secs)
),

evidence_rows as materialized (
    select described.session_key, described.run_no, refusals.created_at, refusals.error_code, refusals.sign_in_id
    from described
    join refusals
        on refusals.user_app_key = described.user_app_key
        and refusals.created_at between described.start - to_seconds($loop_gap_secs) and described."end"
),

evidence as (
    select
        session_key,
        run_no,
        count(*) as reauth_signal_count,
        list(sign_in_id) filter (where sign_in_id is not null) as background_ids,
        -- the last revoked-grant refusal (50173 FreshTokenNeeded, 50133 session revoked): sessions revoked
        max(created_at) filter (where error_code in (50173, 50133)) as revoked_at
    from evidence_rows
    group by session_key, run_no
),

kinded as (
    select
        described.*,
        coalesce(evidence.reauth_signal_count, 0) as reauth_signal_count,
        -- evidence ids sorted, so output is byte-identical run to run; duplicates are dropped from the sorted
        -- list in the final select (by comparing neighbours, cheaper than list_distinct's hashing)
        list_sort(list_filter(list_concat(described.sign_in_ids, coalesce(evidence.background_ids, [])), lambda id: id is not null)) as evidence_ids,
        evidence.revoked_at,
        case
            when not prompt_track then 'silent_loop'
            when denied_prompts >= $min_denials and denied_prompts * 2 >= prompt_count then 'mfa_denial_burst'
            when failed_prompts * 2 > prompt_count and success_prompts = 0 then 'failure_burst'
            else 'reauth_loop'
        end as kind
    from described
    left join evidence using (session_key, run_no)
),

-- error codes of the run's prompts and background refusals, most frequent first
code_counts as (
    select session_key, run_no, error_code as code, count(*) as n
    from (
        select session_key, run_no, unnest(prompt_codes) as error_code from described
        union all
        select session_key, run_no, error_code from evidence_rows
        where error_code is not null and error_code <> 0
    )
    group by all
),

code_lists as (
    select session_key, run_no, list(code order by n desc, code) as error_codes
    from code_counts
    group by all
),

-- how far the window's data reaches: statuses are judged against it, never against the wall clock
as_of as (
    select max(created_at) as as_of
    from sign_ins
    where date between cast($from as date) and cast($to as date)
        and created_at >= $from
        and created_at < $to
)

select
    'loop-' || substr(md5(concat_ws('|', kinded.user_key, kinded.app_key, kinded.device_key, strftime(kinded.start, '%Y-%m-%dT%H:%M:%S.%f'),
        case when not kinded.prompt_track then 'silent' end)), 1, 16) as loop_id,
    kinded.kind,
    case
        when kinded.kind = 'mfa_denial_burst' and kinded.last_success_at > kinded.first_denial_at then 'critical'
        when kinded.prompt_track and kinded.prompt_count >= $severe_prompts or kinded.loop_signal_count > 0 then 'high'
        else 'medium'
    end as severity,
    case
        when kinded.revoked_at is not null
            and len(list_filter(kinded.prompt_times, lambda t: t > kinded.revoked_at)) <= 1 then 'stopped_after_revocation'
        when as_of.as_of < kinded."end" + to_seconds($pause_secs) then 'looping'
        else 'stopped'
    end as status,
    as_of.as_of,
    -- background refusals from here to the end are the episode's evidence (report/period_sign_ins.sql)
    kinded.start - to_seconds($loop_gap_secs) as evidence_start,
    kinded.* exclude (run_no, prompt_track, user_app_key, sign_in_ids, prompt_codes, evidence_ids),
    coalesce(code_lists.error_codes, []) as error_codes,
    list_filter(kinded.evidence_ids, lambda id, i: i = 1 or id <> kinded.evidence_ids[i - 1]) as sign_in_ids,
    lower(regexp_extract(coalesce(kinded.device_os, ''), '^[A-Za-z]+')) as os_family
from kinded
left join code_lists using (session_key, run_no)
cross join as_of
