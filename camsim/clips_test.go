package camsim

import "testing"

func TestClipsParse(t *testing.T) {
	cl, snaps, err := loadClips()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range cl {
		keys := 0
		for _, k := range c.key {
			if k {
				keys++
			}
		}
		if len(c.aus) != 40 {
			t.Errorf("%s: %d access units, want 40", name, len(c.aus))
		}
		t.Logf("%s: %d AUs, %d key frames", name, len(c.aus), keys)
		if keys == 0 {
			t.Errorf("%s: no key frames", name)
		}
	}
	if len(snaps) != 2 {
		t.Errorf("snapshots: %d", len(snaps))
	}
}
