package stream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// whepReaders is cmpReaders for WebRTC: it reads WHEP URLs (one a line)
// from stdin until "GO", opens each as a recvonly pion viewer, prints
// "UP n", then on each "MARK" prints the counts so far (RTP bytes as
// received, after SRTP: header and payload) as JSON, and on "STOP" exits.
func whepReaders(t *testing.T) {
	sc := bufio.NewScanner(os.Stdin)
	var urls []string
	for sc.Scan() && sc.Text() != "GO" {
		urls = append(urls, sc.Text())
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	var nbytes, packets, frames, gaps atomic.Int64
	var up atomic.Int32
	var mu sync.Mutex
	var pcs []*webrtc.PeerConnection
	sem := make(chan struct{}, 8)
	for _, u := range urls {
		sem <- struct{}{}
		go func(u string) {
			defer func() { <-sem }()
			pc, err := api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return
			}
			mu.Lock()
			pcs = append(pcs, pc)
			mu.Unlock()
			if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return
			}
			pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				up.Add(1)
				buf := make([]byte, 1600)
				var last uint16
				var have bool
				for {
					n, _, err := tr.Read(buf)
					if err != nil {
						return
					}
					if n < 12 {
						continue
					}
					seq := binary.BigEndian.Uint16(buf[2:])
					if have {
						if d := seq - last - 1; d != 0 && d < 0x8000 {
							gaps.Add(int64(d))
						}
					}
					last, have = seq, true
					packets.Add(1)
					nbytes.Add(int64(n))
					if buf[1]&0x80 != 0 {
						frames.Add(1)
					}
				}
			})
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return
			}
			gathered := webrtc.GatheringCompletePromise(pc)
			if err := pc.SetLocalDescription(offer); err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return
			}
			<-gathered
			res, err := http.Post(u, "application/sdp", bytes.NewBufferString(pc.LocalDescription().SDP))
			if err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				fmt.Fprintf(os.Stderr, "reader: POST %d: %s\n", res.StatusCode, answer)
				return
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
			}
		}(u)
	}
	deadline := time.Now().Add(60 * time.Second)
	for int(up.Load()) < len(urls) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("UP %d\n", up.Load())
	for sc.Scan() {
		switch sc.Text() {
		case "MARK":
			out, _ := json.Marshal(readerStats{nbytes.Load(), packets.Load(), frames.Load(), gaps.Load()})
			fmt.Println(string(out))
		case "STOP":
			// Hang up properly (DTLS close), so that the server's sessions
			// end now rather than at their ICE timeout.
			mu.Lock()
			for _, pc := range pcs {
				_ = pc.Close()
			}
			mu.Unlock()
			return
		}
	}
}
