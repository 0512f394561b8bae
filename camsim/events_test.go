package camsim

import (
	"strings"
	"testing"
	"time"
)

func TestEventsPullPointAndPTZRaw(t *testing.T) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, Config{Dialect: d, PTZ: true})
			rc := newRaw(cam, "admin", "camsim")
			_, media, media2, ptzURL, events := cam.xaddrs()
			st, root, raw := rc.call(t, events, `<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`)
			if st != 200 {
				t.Fatalf("create: %d %s", st, raw)
			}
			sub := root.textAt("Body", "CreatePullPointSubscriptionResponse", "SubscriptionReference", "Address")
			// The first pull returns the initial state of motion and tamper.
			_, root, raw = rc.call(t, sub, `<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>`)
			if n := len(root.find("Body", "PullMessagesResponse").children); n < 4 || !strings.Contains(raw, `PropertyOperation="Initialized"`) {
				t.Fatalf("initial pull: %s", raw)
			}
			// A tamper fault raised while a long poll waits is delivered.
			done := make(chan string, 1)
			go func() {
				_, _, raw := rc.call(t, sub, `<tev:PullMessages><tev:Timeout>PT20S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>`)
				done <- raw
			}()
			cam.SetFaults(Faults{Tamper: true, Motion: true})
			raw = <-done
			if !strings.Contains(raw, cam.d.tamperTopic) || !strings.Contains(raw, `Value="true"`) {
				t.Errorf("tamper not delivered: %s", raw)
			}
			if st, _, raw := rc.call(t, sub, `<wsnt:Renew><wsnt:TerminationTime>PT120S</wsnt:TerminationTime></wsnt:Renew>`); st != 200 {
				t.Errorf("renew: %d %s", st, raw)
			}
			if st, _, raw := rc.call(t, sub, `<wsnt:Unsubscribe/>`); st != 200 {
				t.Errorf("unsubscribe: %d %s", st, raw)
			}
			if st, root, _ := rc.call(t, sub, `<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`); st != 400 || faultSubcode(root) != "wsrf-rw:ResourceUnknownFault" {
				t.Errorf("pull after unsubscribe: %d", st)
			}

			// Media2 where the dialect has it.
			tok := cam.d.profile(ProfileMain).token
			if media2 != "" {
				_, root, raw := rc.call(t, media2, `<tr2:GetStreamUri><tr2:Protocol>RTSP</tr2:Protocol><tr2:ProfileToken>`+tok+`</tr2:ProfileToken></tr2:GetStreamUri>`)
				if root.textAt("Body", "GetStreamUriResponse", "Uri") != cam.RTSPURL(ProfileMain) {
					t.Errorf("media2 stream uri: %s", raw)
				}
			} else if st, root, _ := rc.call(t, media, `<tr2:GetProfiles/>`); st != 500 || faultSubcode(root) != "ter:ActionNotSupported" {
				t.Errorf("media2 on a camera without it: %d", st)
			}

			// PTZ position changes over time.
			pos := func() (string, string) {
				_, root, _ := rc.call(t, ptzURL, `<tptz:GetStatus><tptz:ProfileToken>`+tok+`</tptz:ProfileToken></tptz:GetStatus>`)
				s := root.find("Body", "GetStatusResponse", "PTZStatus")
				return s.find("Position", "PanTilt").attr("x"), s.textAt("MoveStatus", "PanTilt")
			}
			x0, _ := pos()
			rc.call(t, ptzURL, `<tptz:ContinuousMove><tptz:ProfileToken>`+tok+`</tptz:ProfileToken><tptz:Velocity><tt:PanTilt x="1" y="0"/></tptz:Velocity><tptz:Timeout>PT10S</tptz:Timeout></tptz:ContinuousMove>`)
			waitFor(t, "pan to move", 10*time.Second, func() bool {
				x, st := pos()
				return x != x0 && st == "MOVING"
			})
			rc.call(t, ptzURL, `<tptz:Stop><tptz:ProfileToken>`+tok+`</tptz:ProfileToken></tptz:Stop>`)
			if _, st := pos(); st != "IDLE" {
				t.Errorf("after Stop: %s", st)
			}
			rc.call(t, ptzURL, `<tptz:AbsoluteMove><tptz:ProfileToken>`+tok+`</tptz:ProfileToken><tptz:Position><tt:PanTilt x="-0.9" y="0.3"/></tptz:Position><tptz:Speed><tt:PanTilt x="1" y="1"/></tptz:Speed></tptz:AbsoluteMove>`)
			waitFor(t, "absolute move to arrive", 10*time.Second, func() bool {
				x, st := pos()
				return x == "-0.900000" && st == "IDLE"
			})
		})
	}
}
