package audit

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"
)

// vectorRow is the test vector of FORMAT.md.
func vectorRow() *row {
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 5, 1, 1, 0, 0, 0, time.UTC)
	e, details, err := prepare(Entry{
		Time: time.Date(2026, 5, 2, 3, 4, 5, 678901000, time.UTC),
		Type: "playback.start", Outcome: Success,
		Actor:      Actor{UserID: "u1", Username: "kim", Role: "operator", Org: "관제센터"},
		ClientAddr: "10.0.0.5", SessionID: "s1", Cameras: []string{"cam-1", "cam-2"},
		FootageFrom: &from, FootageTo: &to, Purpose: "crime_prevention", PurposeText: "절도 사건",
		RequestID: "r1", Details: map[string]any{"b": 1, "a": "x<y"},
	})
	if err != nil {
		panic(err)
	}
	return &row{seq: 1, loggedAt: time.Date(2026, 5, 2, 3, 4, 6, 0, time.UTC).UnixMicro(), e: e, details: details}
}

func TestFormatVector(t *testing.T) {
	r := vectorRow()
	if r.details != `{"a":"x<y","b":1}` {
		t.Fatalf("details: %s", r.details)
	}
	r.seal(genesis)
	msg := appendCanonical(append([]byte(hashDomain), genesis...), r.fields())
	const wantMsg = "6777616e6a652e61756469742e656e7472792e76310a00000000000000000000000000000000000000000000000000000000000000000000000000000001000650ccf3513580000650ccf34c4f350000000e706c61796261636b2e73746172740000000773756363657373000000027531000000036b696d000000086f70657261746f720000000ceab480eca09cec84bced84b00000000831302e302e302e35000000027331000000020000000563616d2d310000000563616d2d3201000650b64315400001000650b719a8e40000000000106372696d655f70726576656e74696f6e0000000deca088eb8f8420ec82aceab1b400000000000000027231000000117b2261223a22783c79222c2262223a317d"
	const wantHash = "ebd10fb0e9ad4e4a5baed39bae058eaac53cb33379fff5ee8e21ddc371d82393"
	if got := hex.EncodeToString(msg); got != wantMsg {
		t.Errorf("message:\n got %s\nwant %s", got, wantMsg)
	}
	if got := hex.EncodeToString(r.hash); got != wantHash {
		t.Errorf("hash: got %s want %s", got, wantHash)
	}
}

func testSigningKey() []byte { return ed25519.NewKeyFromSeed(make([]byte, 32)) }
