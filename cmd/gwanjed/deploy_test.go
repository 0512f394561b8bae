package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gwanje/gwanje/internal/config"
)

// The deployment files in deploy/ cannot run here (no Docker engine, no
// Kubernetes), so these tests hold them to the code: every setting they
// name is one of gwanjed's and loads with its own loader and checks, every
// port they publish is the one the settings make gwanjed listen on, every
// probe path is one gwanjed serves.

const deployDir = "../../deploy"

// flagNames asks gwanjed's flag set which settings exist.
func flagNames() map[string]bool {
	var c Config
	names := map[string]bool{}
	newFlagSet(&c).VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// loadSettings loads a deployment's settings the way gwanjed does: the
// YAML file (may be ""), then the environment, then the arguments; and
// runs gwanjed's checks on them.
func loadSettings(t *testing.T, where, yamlText string, args []string, env map[string]string) Config {
	t.Helper()
	flags := flagNames()
	for i := 0; i < len(args); i++ {
		if name, ok := strings.CutPrefix(args[i], "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: gwanjed has no setting --%s", where, name)
			}
		}
	}
	var full []string
	if yamlText != "" {
		var keys map[string]any
		if err := yaml.Unmarshal([]byte(yamlText), &keys); err != nil {
			t.Fatalf("%s: settings: %v", where, err)
		}
		for k := range keys {
			if !flags[k] {
				t.Errorf("%s: settings file: gwanjed has no setting %q", where, k)
			}
		}
		f := filepath.Join(t.TempDir(), "gwanjed.yaml")
		if err := os.WriteFile(f, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
		full = append(full, "--config", f)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GWANJE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		name, ok := strings.CutPrefix(k, "GWANJE_")
		if !ok {
			continue
		}
		flagName := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if config.EnvName(flagName) != k || !flags[flagName] {
			t.Errorf("%s: environment %s names no setting of gwanjed", where, k)
			continue
		}
		t.Setenv(k, v)
	}
	c, err := parseFlags(append(full, args...))
	if err != nil {
		t.Errorf("%s: gwanjed refuses these settings: %v", where, err)
	}
	return c
}

// expand replaces Kubernetes' $(VAR) references with sample values.
func expand(s string) string {
	return strings.NewReplacer("$(POD_IP)", "10.1.2.3", "$(POD_NAME)", "gwanje-recorder-0").Replace(s)
}

func portOf(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: address %q: %v", where, addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// listens returns the ports gwanjed listens on with these settings, by the
// port names the manifests use.
func listens(t *testing.T, where string, c Config) map[string]int {
	ports := map[string]int{"grpc": portOf(t, where, c.GRPCAddr), "http": portOf(t, where, c.HTTPAddr)}
	if c.HTTPSAddr != "" {
		ports["https"] = portOf(t, where, c.HTTPSAddr)
	}
	if c.runs("stream") {
		ports["rtsp"] = portOf(t, where, c.RTSPAddr)
		ports["webrtc-udp"] = c.WebRTCUDPPort
		ports["webrtc-tcp"] = c.WebRTCTCPPort
	}
	if c.runs("recorder") {
		ports["playback"] = portOf(t, where, c.PlaybackAddr)
	}
	return ports
}

func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(bufio.NewReader(f))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// get walks a parsed YAML document: get(d, "spec", "template", 0, …).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestKubernetesManifests checks deploy/kubernetes: every document parses
// and has a kind, apiVersion and name; every role has its workload (control,
// devices and stream as Deployments, recorders as a StatefulSet with a
// volume claim), a PodDisruptionBudget and a NetworkPolicy; each gwanjed
// container's settings (the ConfigMap, its arguments and environment) load
// in gwanjed; its container ports are what those settings listen on; its
// probes ask /healthz and /readyz on the HTTP port; it runs as non-root on a
// read-only root file system; Services target ports the pods have.
func TestKubernetesManifests(t *testing.T) {
	base := filepath.Join(deployDir, "kubernetes", "base")
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(base, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kust); err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, r := range kust.Resources {
		docs = append(docs, readYAMLDocs(t, filepath.Join(base, r))...)
	}
	docs = append(docs, readYAMLDocs(t, filepath.Join(deployDir, "kubernetes", "cloudnative-pg", "cluster.yaml"))...)
	for _, o := range []string{"production", "single-node"} {
		for _, d := range readYAMLDocs(t, filepath.Join(deployDir, "kubernetes", "overlays", o, "kustomization.yaml")) {
			for _, r := range strs(d["resources"]) {
				if _, err := os.Stat(filepath.Join(deployDir, "kubernetes", "overlays", o, r)); err != nil {
					t.Errorf("overlay %s: resource %s: %v", o, r, err)
				}
			}
		}
	}
	var settingsYAML string
	byKind := map[string]map[string]map[string]any{}
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		name, _ := get(d, "metadata", "name").(string)
		if kind == "" || d["apiVersion"] == nil || name == "" {
			t.Fatalf("a manifest without kind, apiVersion or name: %v", d)
		}
		if byKind[kind] == nil {
			byKind[kind] = map[string]map[string]any{}
		}
		byKind[kind][name] = d
		if kind == "ConfigMap" && name == "gwanjed-settings" {
			settingsYAML, _ = get(d, "data", "gwanjed.yaml").(string)
		}
	}
	if settingsYAML == "" {
		t.Fatal("no gwanjed-settings ConfigMap with gwanjed.yaml")
	}
	dbEnv := map[string]string{}
	for k, v := range get(byKind["Secret"]["gwanje-db"], "stringData").(map[string]any) {
		dbEnv[k] = fmt.Sprint(v)
	}
	want := map[string]string{"control": "Deployment", "devices": "Deployment", "stream": "Deployment", "recorder": "StatefulSet"}
	podPorts := map[string]map[string]bool{}
	for role, kind := range want {
		w := byKind[kind]["gwanje-"+role]
		if w == nil {
			t.Errorf("no %s gwanje-%s", kind, role)
			continue
		}
		if byKind["PodDisruptionBudget"]["gwanje-"+role] == nil || byKind["NetworkPolicy"]["gwanje-"+role] == nil {
			t.Errorf("role %s: no PodDisruptionBudget or NetworkPolicy", role)
		}
		if kind == "StatefulSet" && len(asList(get(w, "spec", "volumeClaimTemplates"))) == 0 {
			t.Errorf("recorders: no volume claim template")
		}
		pod := get(w, "spec", "template", "spec")
		if get(pod, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: pods must run as non-root", role)
		}
		var gw any
		for _, c := range append(asList(get(pod, "containers")), asList(get(pod, "initContainers"))...) {
			if img := fmt.Sprint(get(c, "image")); strings.HasSuffix(img, ":latest") {
				t.Errorf("%s: image %s: no latest tags", role, img)
			}
			if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("%s: container %v: read-only root file system and no privilege escalation", role, get(c, "name"))
			}
			if get(c, "name") == "gwanjed" {
				gw = c
			}
		}
		if gw == nil {
			t.Errorf("%s: no gwanjed container", role)
			continue
		}
		var args []string
		for _, a := range strs(get(gw, "args")) {
			args = append(args, expand(a))
		}
		i := slices.Index(args, "--config")
		if i < 0 || args[i+1] != "/etc/gwanje/gwanjed.yaml" {
			t.Errorf("%s: gwanjed must read the ConfigMap's settings: %v", role, args)
		} else {
			args = slices.Delete(args, i, i+2)
		}
		env := map[string]string{}
		maps := []map[string]string{dbEnv}
		for _, e := range asList(get(gw, "env")) {
			if v, ok := get(e, "value").(string); ok {
				env[fmt.Sprint(get(e, "name"))] = v
			}
		}
		maps = append(maps, env)
		allEnv := map[string]string{}
		for _, m := range maps {
			for k, v := range m {
				allEnv[k] = v
			}
		}
		c := loadSettings(t, "kubernetes "+role, settingsYAML, args, allEnv)
		if !slices.Equal(c.Roles, []string{role}) {
			t.Errorf("%s: runs roles %v", role, c.Roles)
		}
		ports := listens(t, role, c)
		podPorts[role] = map[string]bool{}
		for _, p := range asList(get(gw, "ports")) {
			name := fmt.Sprint(get(p, "name"))
			podPorts[role][name] = true
			got, _ := get(p, "containerPort").(int)
			if wantPort, ok := ports[name]; !ok || wantPort != got {
				t.Errorf("%s: container port %s is %d; gwanjed listens on %v", role, name, got, ports)
			}
		}
		for probe, path := range map[string]string{"livenessProbe": livenessPath, "readinessProbe": readinessPath, "startupProbe": livenessPath} {
			if got := get(gw, probe, "httpGet", "path"); got != path || get(gw, probe, "httpGet", "port") != "http" {
				t.Errorf("%s: %s asks %v on port %v; gwanjed serves %s on its http port", role, probe, got, get(gw, probe, "httpGet", "port"), path)
			}
		}
		if !podPorts[role]["http"] {
			t.Errorf("%s: no http port (metrics, probes)", role)
		}
	}
	for name, s := range byKind["Service"] {
		role := fmt.Sprint(get(s, "spec", "selector", "app.kubernetes.io/component"))
		for _, p := range asList(get(s, "spec", "ports")) {
			if tp := fmt.Sprint(get(p, "targetPort")); !podPorts[role][tp] {
				t.Errorf("Service %s: target port %s is not a port of the %s pods", name, tp, role)
			}
		}
	}
	if get(byKind["Cluster"]["gwanje-db"], "spec", "postgresql", "synchronous", "number") != 1 {
		t.Error("CloudNativePG Cluster: no synchronous standby")
	}
	// NATS: the Helm values make a 3-node JetStream cluster.
	nats := readYAMLDocs(t, filepath.Join(deployDir, "kubernetes", "nats", "values.yaml"))[0]
	if get(nats, "config", "cluster", "enabled") != true || get(nats, "config", "cluster", "replicas") != 3 || get(nats, "config", "jetstream", "enabled") != true {
		t.Error("NATS values: not a 3-node JetStream cluster")
	}
}

// TestComposeFile checks deploy/compose: every gwanjed service's settings
// (environment and command) load in gwanjed, the ports it publishes are
// the ones those settings listen on, its health check asks /readyz, and it
// runs read-only; the Dockerfile runs as non-root and names no latest tag.
func TestComposeFile(t *testing.T) {
	d := readYAMLDocs(t, filepath.Join(deployDir, "compose", "compose.yaml"))[0]
	services := get(d, "services").(map[string]any)
	for _, want := range []string{"postgres", "nats", "control", "stream", "recorder"} {
		if services[want] == nil {
			t.Errorf("compose: no service %s", want)
		}
	}
	roles := map[string]bool{}
	for name, s := range services {
		if get(s, "image") != nil && strings.HasSuffix(fmt.Sprint(get(s, "image")), ":latest") {
			t.Errorf("compose %s: no latest tags", name)
		}
		if fmt.Sprint(get(s, "image")) != "gwanje/gwanjed:0.1.0" {
			continue
		}
		env := map[string]string{}
		for k, v := range get(s, "environment").(map[string]any) {
			env[k] = fmt.Sprint(v)
		}
		c := loadSettings(t, "compose "+name, "", strs(get(s, "command")), env)
		for _, r := range c.Roles {
			roles[r] = true
		}
		ports := listens(t, name, c)
		for _, p := range strs(get(s, "ports")) {
			p = strings.TrimSuffix(p, "/udp")
			target, _ := strconv.Atoi(p[strings.LastIndex(p, ":")+1:])
			found := false
			for _, lp := range ports {
				found = found || lp == target
			}
			if !found {
				t.Errorf("compose %s: publishes container port %d; gwanjed listens on %v", name, target, ports)
			}
		}
		if hc := strings.Join(strs(get(s, "healthcheck", "test")), " "); !strings.Contains(hc, fmt.Sprintf(":%d%s", ports["http"], readinessPath)) {
			t.Errorf("compose %s: health check %q does not ask %s on the http port", name, hc, readinessPath)
		}
		if get(s, "read_only") != true {
			t.Errorf("compose %s: not read-only", name)
		}
	}
	for _, r := range allRoles {
		if !roles[r] {
			t.Errorf("compose: no service runs role %s", r)
		}
	}

	b, err := os.ReadFile(filepath.Join(deployDir, "compose", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(b), -1)
	if len(from) < 2 {
		t.Error("Dockerfile: not a multi-stage build")
	}
	for _, f := range from {
		if !strings.Contains(f[1], ":") || strings.HasSuffix(f[1], ":latest") {
			t.Errorf("Dockerfile: FROM %s: name a version", f[1])
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(string(b), -1)
	if len(users) == 0 {
		t.Error("Dockerfile: no USER: the image would run as root")
	} else if u := users[len(users)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("Dockerfile: runs as %s", u)
	}
	if !strings.Contains(string(b), "ffmpeg") {
		t.Error("Dockerfile: no ffmpeg (masked exports need it)")
	}
	var c Config
	newFlagSet(&c).Parse(nil)
	exposed := regexp.MustCompile(`(?m)^EXPOSE\s+(.*)$`).FindStringSubmatch(string(b))
	for _, addr := range []string{c.GRPCAddr, c.HTTPAddr, c.HTTPSAddr, c.RTSPAddr, c.PlaybackAddr} {
		if exposed == nil || !slices.Contains(strings.Fields(exposed[1]), strconv.Itoa(portOf(t, "defaults", addr))) {
			t.Errorf("Dockerfile: EXPOSE does not name the default port of %s", addr)
		}
	}
}

// TestSystemdUnits checks deploy/systemd: each role's example settings load
// in gwanjed and run that role alone; the units start gwanjed with settings
// it has and let it write its data dir and footage dir.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join(deployDir, "systemd")
	unit, err := os.ReadFile(filepath.Join(dir, "gwanjed@.service"))
	if err != nil {
		t.Fatal(err)
	}
	rw := regexp.MustCompile(`(?m)^ReadWritePaths=(.*)$`).FindStringSubmatch(string(unit))
	if rw == nil {
		t.Fatal("gwanjed@.service: no ReadWritePaths")
	}
	for _, h := range []string{"NoNewPrivileges=true", "ProtectSystem=strict", "CapabilityBoundingSet=", "User=gwanje"} {
		if !strings.Contains(string(unit), "\n"+h+"\n") {
			t.Errorf("gwanjed@.service: no %s", h)
		}
	}
	writable := func(p string) bool {
		for _, w := range strings.Fields(rw[1]) {
			if p == w || strings.HasPrefix(p, w+"/") {
				return true
			}
		}
		return false
	}
	for _, role := range allRoles {
		b, err := os.ReadFile(filepath.Join(dir, role+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		c := loadSettings(t, "systemd "+role, string(b), nil, map[string]string{"GWANJE_DATABASE_URL": "postgres://gwanje@db/gwanje"})
		if !slices.Equal(c.Roles, []string{role}) {
			t.Errorf("systemd %s.yaml runs roles %v", role, c.Roles)
		}
		for _, p := range []string{c.DataDir, c.KeyDir, c.RecordDir, c.AuditAnchorFile} {
			if p != "" && !writable(p) {
				t.Errorf("systemd %s: %s is not in ReadWritePaths %s", role, p, rw[1])
			}
		}
	}
	for _, u := range []string{"gwanjed.service", "gwanjed@.service"} {
		b, _ := os.ReadFile(filepath.Join(dir, u))
		for _, m := range regexp.MustCompile(`(?m)^ExecStart=\S+ (.*)$`).FindAllStringSubmatch(string(b), -1) {
			for _, a := range strings.Fields(m[1]) {
				if name, ok := strings.CutPrefix(a, "--"); ok && !flagNames()[name] {
					t.Errorf("%s: gwanjed has no setting --%s", u, name)
				}
			}
		}
	}
}

// TestNewDataDirWithSharedCA: a new data dir that holds only tls/ (the
// installation's CA put there before the first start, as the deployments
// do) is accepted and keeps that CA; anything else in it is refused.
func TestNewDataDirWithSharedCA(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  string
		wantOK bool
	}{{"tls alone", "", true}, {"tls and another file", "notes.txt", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "tls", "ca.crt"), []byte("shared CA"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.extra != "" {
				os.WriteFile(filepath.Join(dir, tc.extra), nil, 0o600)
			}
			unlock, err := prepareDataDir(dir)
			if (err == nil) != tc.wantOK {
				t.Fatalf("prepareDataDir: %v, want ok=%v", err, tc.wantOK)
			}
			if err != nil {
				return
			}
			unlock()
			if b, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.crt")); string(b) != "shared CA" {
				t.Fatalf("the CA was not kept: %q", b)
			}
			if _, err := os.Stat(filepath.Join(dir, dataDirMarker)); err != nil {
				t.Fatalf("no marker: %v", err)
			}
		})
	}
}
