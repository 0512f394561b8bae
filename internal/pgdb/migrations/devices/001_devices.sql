-- The devices package owns this directory.
select 1;
