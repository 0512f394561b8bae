-- The audit package owns this directory.
select 1;
