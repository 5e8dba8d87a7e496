-- prompts: interactive sign-in *flows* in which the user had to act. A flow is not a row: one MFA sign-in
-- writes several rows (50074, then 0), a password typed wrong twice writes 50126, 50126, 0. Rows of one
-- user + app + device belong to one flow while they are close together; a success ends the flow.
-- correlation_id is supplied by the client and some clients reuse it across retries, so it never holds a
-- flow together on its own: it merges the extra rows Entra writes for one successful request, and it tells
-- a retry on the same sign-in page from a new attempt after a refusal.
-- A flow whose rows are all silent SSO ("Previously satisfied", no interrupt or failure) is not a prompt.
-- Service principals and managed identities are never prompted and are left out here.
-- @param flow_gap_secs INTEGER = 60 : rows of one flow (MFA challenge, retries) arrive within a minute of each other; a longer pause starts a new prompt
-- @param same_request_secs INTEGER = 10 : a second success row with the same correlation id this soon after the first is the same request logged again (CAE, multi-row MFA), not a new prompt

with interactive as (
    select
        *,
        coalesce(user_id, user_principal_name) as user_key,
        coalesce(app_id, app_display_name, '') as app_key,
        coalesce(device_id, '') as device_key
    from sign_ins
    where principal_kind = 'user'
        and is_interactive
        and coalesce(user_id, user_principal_name) is not null
),

ordered as (
    select
        *,
        lag(created_at) over flow_order as prev_at,
        lag(outcome) over flow_order as prev_outcome,
        lag(correlation_id) over flow_order as prev_correlation_id,
        lag(sign_in_id) over flow_order as prev_sign_in_id
    from interactive
    -- at equal timestamps the challenge sorts before its success
    window flow_order as (
        partition by user_key, app_key, device_key
        order by created_at, outcome = 'success', sign_in_id, error_code
    )
),

marked as (
    select
        *,
        case
            when prev_at is null then 1
            when created_at - prev_at > to_seconds($flow_gap_secs) then 1
            -- after a refusal (denied MFA, bad password, block) a new request is a new attempt;
            -- a retry inside the same sign-in page keeps its correlation id
            when prev_outcome in ('mfa_denied', 'failure', 'block')
                and correlation_id is distinct from prev_correlation_id then 1
            when prev_outcome = 'success'
                and not (
                    outcome = 'success'
                    and (
                        sign_in_id = prev_sign_in_id
                        or (correlation_id = prev_correlation_id
                            and created_at - prev_at <= to_seconds($same_request_secs))
                    )
                ) then 1
            else 0
        end as starts_flow
    from ordered
),

numbered as (
    select
        *,
        sum(starts_flow) over (
            partition by user_key, app_key, device_key
            order by created_at, outcome = 'success', sign_in_id, error_code
            rows unbounded preceding
        ) as flow_no
    from marked
),

flows as (
    select
        user_key,
        app_key,
        device_key,
        flow_no,
        min(created_at) as start,
        max(created_at) as "end",
        count(*) as row_count,
        list(outcome order by created_at, outcome = 'success', sign_in_id, error_code)[-1] as final_outcome,
        count(*) filter (where outcome = 'success') as success_rows,
        count(*) filter (where outcome = 'interrupt') as interrupt_rows,
        count(*) filter (where outcome = 'reauth_trigger') as reauth_rows,
        count(*) filter (where outcome in ('failure', 'block', 'unknown')) as failure_rows,
        count(*) filter (where outcome = 'mfa_denied') as denial_rows,
        count(*) filter (where outcome = 'loop_signal') as loop_signal_rows,
        bool_or(outcome not in ('success', 'unknown'))
            or bool_or(auth_methods is not null and auth_methods <> 'Previously satisfied') as user_acted,
        list(error_code order by created_at, outcome = 'success', sign_in_id, error_code) as codes,
        list_sort(list(distinct sign_in_id) filter (where sign_in_id is not null)) as sign_in_ids,
        list_sort(list(distinct ip_address) filter (where ip_address is not null)) as ip_addresses,
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
    from numbered
    group by user_key, app_key, device_key, flow_no
)

select * exclude (user_acted)
from flows
where user_acted
