-- 보안서약 여부: whether the recipient signed a security pledge for the
-- footage (이용·제공 근거 of the 개인영상정보 관리대장).
alter table privacy_provisions add column security_pledge boolean not null default false;
