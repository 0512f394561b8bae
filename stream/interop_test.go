package stream

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// TestFFprobeInterop opens a live URL with ffprobe (TCP and UDP) and checks
// that it sees one H.264 video stream and decodes frames. It is skipped,
// saying so, when ffprobe is not installed (apt-get install -y ffmpeg).
func TestFFprobeInterop(t *testing.T) {
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed (apt-get install -y ffmpeg): interop with a standard player not checked")
	}
	rtp := freeUDPPair(t)
	e := newEnv(t, 1, func(c *Config) { c.UDPRTPAddress = rtp })
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			tk := e.ticket("ff", "s", "cam1", "main")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "-v", "error", "-rtsp_transport", transport,
				"-select_streams", "v", "-count_frames", "-read_intervals", "%+3",
				"-show_entries", "stream=codec_name,width,height,nb_read_frames:format=nb_streams",
				"-of", "json", tk.URL).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			var res struct {
				Streams []struct {
					Codec  string `json:"codec_name"`
					Width  int    `json:"width"`
					Frames string `json:"nb_read_frames"`
				} `json:"streams"`
				Format struct {
					NbStreams int `json:"nb_streams"`
				} `json:"format"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("ffprobe output: %v\n%s", err, out)
			}
			t.Logf("ffprobe over %s: %+v", transport, res)
			if len(res.Streams) != 1 || res.Streams[0].Codec != "h264" || res.Streams[0].Width == 0 ||
				res.Streams[0].Frames == "" || res.Streams[0].Frames == "0" || res.Format.NbStreams != 1 {
				t.Errorf("ffprobe saw %+v, want one decodable H.264 stream and nothing else", res)
			}
			// The ticket was used: ffprobe cannot open it again.
			if err := exec.CommandContext(ctx, bin, "-v", "quiet", "-rtsp_transport", transport, tk.URL).Run(); err == nil {
				t.Error("ffprobe opened a used ticket")
			}
		})
	}
}
