package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gwanje/gwanje/internal/browsertest"
)

// TestStartRunsScripts loads a page served by the test and reads a value
// its script computed: the browser starts, runs JavaScript and closes.
func TestStartRunsScripts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>t</title><script>window.answer = 6 * 7; document.title = "ready"</script>`)
	}))
	defer srv.Close()
	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	answer, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.answer`))
	if err != nil {
		t.Fatal(err)
	}
	if answer != 42 || title != "ready" {
		t.Fatalf("answer %d, title %q: want 42, ready", answer, title)
	}
}

func TestSplitFlag(t *testing.T) {
	for _, tc := range []struct{ in, name, value string }{
		{"--headless", "headless", ""},
		{"--window-size=1280,720", "window-size", "1280,720"},
		{"--disable-features=A,B", "disable-features", "A,B"},
	} {
		if n, v := browsertest.SplitFlag(tc.in); n != tc.name || v != tc.value {
			t.Errorf("splitFlag(%q) = %q, %q", tc.in, n, v)
		}
	}
}
