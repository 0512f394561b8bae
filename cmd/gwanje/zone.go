package main

import "time"

// zone is the institution's time zone: the server keeps civil dates,
// recording schedules and ledgers in Korea Standard Time (devices.Seoul),
// so the CLI reads the times people type ("2026-11-22 10:00") and prints
// times in it, whatever the workstation's zone is. A workstation set to UTC
// must not turn 10:00 into 19:00 KST.
var zone = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Seoul"); err == nil {
		return l
	}
	return time.FixedZone("KST", 9*60*60)
}()

// zoneNote is shown beside flags that take a time.
const zoneNote = "in KST (Asia/Seoul, the institution's zone) unless an offset is given"
