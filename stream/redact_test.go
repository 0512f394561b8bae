package stream

import (
	"strings"
	"testing"
)

// TestUpstreamStringRedacts: an upstream printed in a log or error shows no
// credentials, wherever the camera put them.
func TestUpstreamStringRedacts(t *testing.T) {
	for _, u := range []string{
		"rtsp://admin:s3cret@10.0.0.1:554/Streaming/Channels/101",
		"rtsp://10.0.0.1:554/user=admin_password=s3cret_channel=1_stream=0.sdp",
		"rtsp://10.0.0.1:554/live?user=admin&password=s3cret",
	} {
		if s := (Upstream{URL: u, Password: "s3cret"}).String(); strings.Contains(s, "s3cret") || !strings.HasPrefix(s, "rtsp://10.0.0.1:554/") {
			t.Errorf("%q printed as %q", u, s)
		}
	}
}
