package observe

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// metricName matches the metric names an expression can reference.
var metricName = regexp.MustCompile(`\b(?:raft|go|process)_[a-z0-9_]+\b`)

// exportedNames lists every series name the exercised Observer exposes,
// histograms with their _bucket, _sum and _count series.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	fams, err := exercisedObserver(t).Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

// checkReferences fails for every metric an expression names that the
// Observer does not export, and returns the raft_ metrics referenced.
func checkReferences(t *testing.T, where string, exprs []string, exported map[string]bool) map[string]bool {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatalf("%s: no expressions found", where)
	}
	used := map[string]bool{}
	for _, e := range exprs {
		refs := metricName.FindAllString(e, -1)
		if len(refs) == 0 {
			t.Errorf("%s: expression names no metric: %s", where, e)
		}
		for _, name := range refs {
			if !exported[name] {
				t.Errorf("%s: %s is not exported (in %s)", where, name, e)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
		}
	}
	return used
}

func TestGrafanaDashboardReferencesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("dashboards/grafana-raft.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard lacks title, uid or panels")
	}
	var exprs []string
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if p.Title == "" || len(p.Targets) == 0 || p.GridPos.W == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: needs a title, targets and a grid position within 24 columns", p.ID, p.Title)
		}
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	exported := exportedNames(t)
	used := checkReferences(t, "dashboard", exprs, exported)
	for name := range exported {
		if strings.HasPrefix(name, "raft_") && !used[name] && !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			t.Errorf("dashboard shows nothing of %s", name)
		}
	}
}

func TestAlertingRulesAreWellFormed(t *testing.T) {
	raw, err := os.ReadFile("dashboards/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("rules YAML: %v", err)
	}
	var exprs, alerts []string
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			exprs = append(exprs, r.Expr)
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("rule %q needs an alert name and an expression", r.Alert)
			}
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("rule %s: severity %q, want critical or warning", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %s needs summary and description annotations", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("rule %s: for %q: %v", r.Alert, r.For, err)
				}
			}
		}
	}
	checkReferences(t, "alerts", exprs, exportedNames(t))
	for _, want := range []string{"RaftNoLeader", "RaftFrequentLeaderChanges", "RaftFollowerLagging", "RaftSlowFsync", "RaftProposalFailures"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no %s alert", want)
		}
	}
}

// TestAlertingRulesPassPromtool runs the rules' unit tests
// (dashboards/alerts_test.yml: a firing and a quiet case per rule) with
// Prometheus's own promtool. Without promtool the test skips, except in CI
// (CI=true), which installs it.
func TestAlertingRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; CI installs it (Debian package prometheus)")
		}
		t.Skip("promtool not found (Debian package prometheus): alert rule unit tests not run")
	}
	out, err := exec.Command(promtool, "test", "rules", "dashboards/alerts_test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertHasAUnitTest: a rule added to alerts.yml needs its cases in
// alerts_test.yml.
func TestEveryAlertHasAUnitTest(t *testing.T) {
	rules, err := os.ReadFile("dashboards/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("dashboards/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: ")
		if ok && !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("alert %s has no case in dashboards/alerts_test.yml", name)
		}
	}
}
