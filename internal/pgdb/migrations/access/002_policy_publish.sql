-- policy.publish: publishing a revision of the 운영·관리 방침 is the
-- responsible manager's (관리책임자) duty.
update access_roles set permissions = array_append(permissions, 'policy.publish'), updated_at = now()
where name = 'manager' and builtin and not ('policy.publish' = any (permissions));
