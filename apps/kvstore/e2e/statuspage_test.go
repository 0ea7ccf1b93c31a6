package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jangada-io/jangada/apps/kvstore"
)

// chromiumNames are the browser commands the status page test looks for
// on PATH, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// chromiumPath returns the browser to drive. Without one it skips the test,
// unless CI is set: CI installs Chromium, so there a missing one fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("no Chromium found on PATH (looked for %s); install it with: apt-get install chromium", strings.Join(chromiumNames, ", "))
	if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
		t.Fatal(msg + " (CI is set: CI installs Chromium, so its absence is a failure)")
	}
	t.Skip(msg)
	return ""
}

// screenshotPath is where the test saves its screenshot: the file
// $STATUS_PAGE_SCREENSHOT, or status-page.png in the temporary directory,
// overwritten by every run.
func screenshotPath() string {
	if p := os.Getenv("STATUS_PAGE_SCREENSHOT"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), "kvstore-status-page.png")
}

// browser starts headless Chromium and returns a context of one tab, and a
// function that stops the browser.
func browser(t *testing.T, path string) (context.Context, func()) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the sandbox needs a user namespace that CI containers lack
		chromedp.DisableGPU,
		chromedp.WindowSize(1000, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var mu sync.Mutex
	var errs []string
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}))
	return tab, func() {
		cancelTab()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() && len(errs) > 0 {
			t.Logf("chromedp errors:\n%s", strings.Join(errs, "\n"))
		}
	}
}

// TestStatusPageFollowsALeaderTransferLive loads one node's status page in
// headless Chromium, moves leadership to that node with jangadactl, and
// sees the page show it without reloading.
func TestStatusPageFollowsALeaderTransferLive(t *testing.T) {
	chromium := chromiumPath(t)
	c := newCluster(t, 3, "pebble")
	jc := newCtl(t, buildJangadactl(t), c)
	leader := c.WaitLeader(20 * time.Second)
	target := leader%3 + 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	for i := range 20 {
		if _, err := c.Node(leader).Client.Put(ctx, fmt.Sprintf("k%02d", i), []byte("v"), kvstore.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()

	tab, stop := browser(t, chromium)
	defer stop()
	// The first action starts the browser, which lives as long as tab: no
	// deadline on it. Later ones get their own.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1000, 900)); err != nil {
		t.Fatalf("start Chromium %s: %v", chromium, err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	// waitFor polls a JavaScript predicate in the page.
	waitFor := func(what, predicate string) {
		t.Helper()
		run(what, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	}
	leaderShown := func(id uint64) string {
		return fmt.Sprintf(`document.querySelector("#leader").dataset.leader === "%d" && document.querySelector("#conn").dataset.state === "live"`, id)
	}

	url := "http://" + c.Node(target).HTTPAddr + "/ui/"
	t.Logf("loading %s (node %d, a follower of node %d)", url, target, leader)
	run("load the page", chromedp.Navigate(url))
	waitFor(fmt.Sprintf("the page to show leader %d", leader), leaderShown(leader)+
		` && document.querySelectorAll("#members tbody tr").length === 3`)
	// The health checks with their messages, and the links to the other views.
	waitFor("the health checks", `document.querySelector("#health [data-check=leader]") !== null`+
		fmt.Sprintf(` && document.querySelector("#health [data-check=leader]").textContent.includes("leader is %d")`, leader))
	if href := eval(`document.querySelector("#metrics").getAttribute("href")`); href != "/metrics" {
		t.Fatalf("metrics link %q, want /metrics", href)
	}
	if cmd := eval(`document.querySelector("#cmd-status").textContent`); cmd != "jangadactl --endpoints "+c.Node(target).RaftAddr+" status" {
		t.Fatalf("status command %q", cmd)
	}
	if role := eval(`document.querySelector("#role").textContent`); role != "follower" {
		t.Fatalf("node %d's page shows role %q before the transfer, want follower", target, role)
	}
	if note := eval(`document.querySelector("#lag-note").textContent`); !strings.Contains(note, fmt.Sprintf("node %d's page", leader)) {
		t.Fatalf("a follower's page should send to the leader's for replication progress: %q", note)
	}
	// A reload would drop this mark.
	run("mark the document", chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))

	jc.Must("leader", "transfer", fmt.Sprint(target))

	waitFor(fmt.Sprintf("the page to show leader %d", target), leaderShown(target)+
		` && document.querySelector("#role").textContent === "leader"`+
		` && document.querySelectorAll("#lag .lag-row").length === 2`+
		fmt.Sprintf(` && document.querySelector("#events").textContent.includes("node %d elected leader")`, target))
	if eval(`String(window.sameDocument === true)`) != "true" {
		t.Fatal("the page was reloaded to show the new leader; it should update in place")
	}
	crown := eval(`Array.from(document.querySelectorAll("#members tbody tr")).filter((r) => r.dataset.leader === "true").map((r) => r.dataset.id).join(",")`)
	if crown != fmt.Sprint(target) {
		t.Fatalf("members marked leader: %q, want %d", crown, target)
	}
	// Let the lag chart collect a few samples for the picture.
	waitFor("a few lag samples", `document.querySelectorAll("#lag .lag-row .spark span:not(.empty)").length >= 2*5`)
	ctx, cancel = context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := screenshotPath()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot of node %d's page after the transfer: %s", target, path)

	// Readable on a phone: nothing wider than a narrow screen.
	run("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Fatalf("on a 390px wide screen the page is %spx wide", w)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatalf("screenshot on a phone: %v", err)
	}
	phonePath := strings.TrimSuffix(path, ".png") + "-phone.png"
	if err := os.WriteFile(phonePath, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("the same on a phone: %s", phonePath)
}
