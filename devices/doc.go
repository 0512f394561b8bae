// Package devices is gwanje's camera registry: sites (개소) and cameras
// (대수) with everything the law makes a municipality record and publish
// about them (purpose and legal basis, location, coverage, recording
// schedule, retention, storage, department and manager, persons with access,
// contractor, signage, labels, lifecycle), the ONVIF facts learned at
// registration, and camera credentials encrypted at rest.
//
// A Registry is built with New(Config{Pool, Auditor, DataDir or KeyFile}).
// Every change (CreateSite, UpdateSite, CreateCamera, Register, Update,
// Decommission, SetCredentials, ImportOpenData) is written with its audit
// entry (site.create, site.update, device.create, device.register,
// device.update, device.decommission, device.credentials, device.import) in
// the same transaction through the consumer-side Auditor interface, so a
// change without its audit record is impossible: when the audit store fails,
// nothing changes.
//
// Registration (Register) contacts the camera through devices/onvif: it
// learns the clock offset (registration works with a drifting clock and
// reports the drift), reads device information, services, profiles, stream
// and snapshot URIs, checks the chosen stream with an RTSP DESCRIBE
// (gortsplib) with the credentials, and refuses with a typed reason
// (ErrUnreachable, ErrUnauthorized, ErrNoProfile, ErrBadResponse) before
// anything is stored. Discover runs unicast WS-Discovery over addresses and
// CIDR ranges and marks candidates already registered.
//
// Credentials are sealed with AES-256-GCM (the camera id as additional
// data) under a key read from Config.KeyFile or created (mode 0600) in
// Config.DataDir; the key id is stored next to the ciphertext. No Get, List
// or report returns them; Credentials hands them to server-side components.
//
// Recording schedules (Schedule, ParseSchedule) read the forms municipal
// policies use ("24시간", "평일 07:00~09:00, 17:00~20:00", a fire season
// "02-01~05-15, 11-01~12-15") and answer Scheduled(t) in Korea Standard
// Time. Purposes map every local category to the national 설치목적구분 and a
// default legal basis (LookupPurpose).
//
// Reports: InstallationReport gives the 설치 현황 totals (sites and cameras
// by purpose, national category, department, retention band and
// contractor) and the full list, written as XLSX (WriteXLSX) or CSV
// (WriteCSV). Open data: ExportOpenData writes the 18-column
// 전국CCTV표준데이터 CSV in UTF-8 or CP949; ImportOpenData reads it
// (auto-detecting the encoding, normalising stray white space and quoted
// commas), validates every row, reports bad rows with line numbers, and
// imports all rows in one transaction or none (DryRun imports none).
//
// Errors wrap ErrInvalid, ErrNotFound, ErrAlreadyExists, ErrConflict, ErrUnreachable,
// ErrUnauthorized, ErrNoProfile or ErrBadResponse, so that the gRPC layer
// maps them in one place.
package devices
