-- user_candidates: who `reauth-loops user WHO` may mean. A user is keyed like a loop's user: the object id,
-- or the UPN when the log has no id. `matched_by` says how WHO matched:
--   key           the object id or the UPN, case-insensitively (one person, unless a UPN was reused)
--   display_name  the whole display name: not a key, many people share one, so it is only taken when unique
--   partial       part of the UPN or display name: only ever offered as a suggestion

with users as (
    select
        coalesce(user_id, user_principal_name) as user_key,
        any_value(user_id) as user_id,
        arg_max(user_principal_name, created_at) as user_principal_name,
        arg_max(user_display_name, created_at) as user_display_name,
        arg_max(tenant_id, created_at) as tenant_id,
        count(*) as sign_ins,
        strftime(min(created_at), '%Y-%m-%dT%H:%M:%S.%gZ') as first_seen,
        strftime(max(created_at), '%Y-%m-%dT%H:%M:%S.%gZ') as last_seen,
        bool_or(lower(user_id) = lower($who) or lower(user_principal_name) = lower($who)) as by_key,
        bool_or(lower(user_display_name) = lower($who)) as by_name,
        bool_or(contains(lower(coalesce(user_principal_name, '')), lower($who))
            or contains(lower(coalesce(user_display_name, '')), lower($who))) as by_part
    from sign_ins
    where principal_kind = 'user'
        and coalesce(user_id, user_principal_name) is not null
    group by coalesce(user_id, user_principal_name)
)

select
    user_key,
    user_id,
    user_principal_name,
    user_display_name,
    tenant_id,
    sign_ins,
    first_seen,
    last_seen,
    case when by_key then 'key' when by_name then 'display_name' else 'partial' end as matched_by
from users
where by_key or by_name or by_part
order by matched_by, user_principal_name, user_id
