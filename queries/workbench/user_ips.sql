-- user_ips: the IP addresses in one user's timeline (user_events), most used first.
select
    ip_address,
    count(*) as sign_ins,
    min(created_at) as first,
    max(created_at) as last
from user_events
where ip_address is not null
group by ip_address
order by sign_ins desc, first, ip_address
