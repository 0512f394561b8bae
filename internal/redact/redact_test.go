package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rtsp://192.168.1.10:554/user=admin_password=secret_channel=1_stream=0.sdp?real_stream",
			"rtsp://192.168.1.10:554/user=xxxxx_password=xxxxx_channel=1_stream=0.sdp?real_stream"},
		{"rtsp://h/user=admin_password=se_cret_channel=1_stream=0.sdp", "rtsp://h/user=xxxxx_password=xxxxx_channel=1_stream=0.sdp"},
		{"rtsp://admin:secret@10.0.0.1:554/Streaming/Channels/101", "rtsp://10.0.0.1:554/Streaming/Channels/101"},
		{"rtsp://a:b@c@10.0.0.1/x", "rtsp://10.0.0.1/x"},
		{"http://10.0.0.1/cgi-bin/snapshot.cgi?loginuse=admin&loginpas=x&user=admin&pwd=secret&channel=1",
			"http://10.0.0.1/cgi-bin/snapshot.cgi?loginuse=admin&loginpas=x&user=xxxxx&pwd=xxxxx&channel=1"},
		{"rtsp://h/live?Username=A&Password=B#frag", "rtsp://h/live?Username=xxxxx&Password=xxxxx#frag"},
		{"rtsp://h/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif", "rtsp://h/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif"},
		{"rtsp://h/Streaming/Channels/102?transportmode=unicast&profile=Profile_2", "rtsp://h/Streaming/Channels/102?transportmode=unicast&profile=Profile_2"},
		{"http://h/onvif/device_service", "http://h/onvif/device_service"},
		{"rtsp://h/user=_password=", "rtsp://h/user=_password="},
		{"not a url user=a password=b", "not a url user=xxxxx password=xxxxx"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if Contains(tc.in) != (tc.in != tc.want) {
			t.Errorf("Contains(%q) = %v", tc.in, Contains(tc.in))
		}
		if got := URL(URL(tc.in)); got != tc.want {
			t.Errorf("URL is not idempotent on %q: %q", tc.in, got)
		}
	}
}

func TestText(t *testing.T) {
	in := `RTSP DESCRIBE rtsp://h:554/user=admin_password=secret_channel=1_stream=0.sdp: dial "rtsp://admin:pw%2F1@h/x" failed (pw/1)`
	got := Text(in, "pw/1", "pw%2F1")
	for _, leak := range []string{"secret", "admin", "pw/1", "pw%2F1"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaks %q", got, leak)
		}
	}
	if !strings.Contains(got, "rtsp://h:554/user=xxxxx_password=xxxxx_channel=1_stream=0.sdp") || !strings.Contains(got, `"rtsp://h/x"`) {
		t.Errorf("got %q", got)
	}
}

func FuzzURL(f *testing.F) {
	for _, s := range []string{"rtsp://a:b@h/user=u_password=p_channel=1", "http://h/?pwd=1&user=2", "x://@/", "user=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := URL(s)
		if URL(r) != r {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, r, URL(r))
		}
	})
}
