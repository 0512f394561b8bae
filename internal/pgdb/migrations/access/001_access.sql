-- The accesscontrol package owns this directory.
select 1;
