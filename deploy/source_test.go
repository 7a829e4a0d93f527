package deploy

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/svc"
)

// servicesDir is the repository's services/, through a symbolic link in
// testdata: `go test` rechecks a cached pass only against the files a test
// opened inside its own module, so reading ../services directly would let an
// edit there go unnoticed. TestSourcesAreTheRepositorys keeps the link honest.
var servicesDir = filepath.Join("testdata", "services")

// kitServices are the kit's services: the folders under services/ with a
// Dockerfile (events and platform are libraries).
func kitServices(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(servicesDir, "*", "Dockerfile"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no services/*/Dockerfile under %s (%v)", servicesDir, err)
	}
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Base(filepath.Dir(m)))
	}
	slices.Sort(out)
	return out
}

// serviceSource is what a service's own source says about how it runs.
type serviceSource struct {
	name string
	// env maps each environment variable its package reads to the default
	// it gives (a string literal), "" when that is not a literal.
	env map[string]string
	// routes are its mux patterns, e.g. "GET /readyz".
	routes []string
	// groups are the consumer groups it joins.
	groups []string
	// user is its Dockerfile's USER.
	user string
}

// port is the port of the service's default HTTP_ADDR.
func (s serviceSource) port(t *testing.T) int32 {
	t.Helper()
	addr, ok := s.env["HTTP_ADDR"]
	if !ok || addr == "" {
		t.Fatalf("%s: its source gives HTTP_ADDR no default", s.name)
	}
	_, p, _ := strings.Cut(addr, ":")
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: default HTTP_ADDR %q has no port", s.name, addr)
	}
	return int32(n)
}

// serves reports whether the service registers a GET route for path.
func (s serviceSource) serves(path string) bool {
	return slices.Contains(s.routes, "GET "+path) || slices.Contains(s.routes, path)
}

// envGetters are the methods of svc.Env that read a variable named by their
// first argument (String, Int, Duration, …), found by reflection so that a
// getter added later is recognised too.
var envGetters = func() map[string]bool {
	out := map[string]bool{}
	typ := reflect.TypeOf((*svc.Env)(nil))
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		if m.Type.NumIn() > 1 && m.Type.In(1).Kind() == reflect.String {
			out[m.Name] = true
		}
	}
	return out
}()

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// groupConstants are services/events' consumer group constants by name.
var groupConstants = map[string]string{
	"GroupStockService":    events.GroupStockService,
	"GroupOrdersProcessor": events.GroupOrdersProcessor,
}

// goFiles parses the non-test Go files under dir (recursively when deep).
func goFiles(t *testing.T, dir string, deep bool) []*ast.File {
	t.Helper()
	var files []*ast.File
	fset := token.NewFileSet()
	// "/." makes WalkDir descend into dir when dir is a symbolic link.
	err := filepath.WalkDir(dir+string(filepath.Separator)+".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if !deep && path != dir+string(filepath.Separator)+"." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatalf("parse %s: %v", dir, err)
	}
	return files
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// inspect collects env reads, routes and groups from files into src.
func inspect(files []*ast.File, src *serviceSource) {
	groupValues := map[string]bool{}
	for _, v := range groupConstants {
		groupValues[v] = true
	}
	addGroup := func(g string) {
		if !slices.Contains(src.groups, g) {
			src.groups = append(src.groups, g)
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if len(n.Args) == 0 {
					return true
				}
				first, ok := stringLit(n.Args[0])
				if !ok {
					return true
				}
				switch fun := n.Fun.(type) {
				case *ast.SelectorExpr:
					if envGetters[fun.Sel.Name] && envName.MatchString(first) {
						def := ""
						if len(n.Args) > 1 {
							def, _ = stringLit(n.Args[1])
						}
						src.env[first] = def
					}
					if fun.Sel.Name == "Handle" || fun.Sel.Name == "HandleFunc" {
						src.routes = append(src.routes, first)
					}
				case *ast.Ident:
					if fun.Name == "getenv" && envName.MatchString(first) {
						src.env[first] = ""
					}
				}
			case *ast.BasicLit:
				if v, ok := stringLit(n); ok && groupValues[v] {
					addGroup(v)
				}
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "events" {
					if v, ok := groupConstants[n.Sel.Name]; ok {
						addGroup(v)
					}
				}
			}
			return true
		})
	}
}

// readService reads what services/<name> says about itself.
func readService(t *testing.T, name string) serviceSource {
	t.Helper()
	src := serviceSource{name: name, env: map[string]string{}}
	inspect(goFiles(t, filepath.Join(servicesDir, name), false), &src)
	src.user = dockerfileUser(t, filepath.Join(servicesDir, name, "Dockerfile"))
	return src
}

// platformSource is what services/platform reads and serves on behalf of
// every service.
func platformSource(t *testing.T) serviceSource {
	t.Helper()
	src := serviceSource{name: "platform", env: map[string]string{}}
	inspect(goFiles(t, filepath.Join(servicesDir, "platform"), true), &src)
	return src
}

// commonEnv are the variables svc.Common reads, recorded by running it.
func commonEnv() []string {
	var keys []string
	svc.NewEnv(func(k string) string {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		return ""
	}).Common()
	slices.Sort(keys)
	return keys
}

// runtimeEnv are read by the Go runtime itself, in every service.
var runtimeEnv = []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK"}

// envReader answers whether a service reads a variable.
type envReader struct {
	service, platform serviceSource
	common            []string
}

func newEnvReader(t *testing.T, name string) envReader {
	t.Helper()
	return envReader{service: readService(t, name), platform: platformSource(t), common: commonEnv()}
}

func (r envReader) reads(key string) bool {
	_, own := r.service.env[key]
	_, shared := r.platform.env[key]
	return own || shared || slices.Contains(r.common, key) || slices.Contains(runtimeEnv, key)
}

// dockerfileUser returns the last USER of a Dockerfile.
func dockerfileUser(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	user := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && strings.EqualFold(fields[0], "USER") {
			user = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return user
}

// The links in testdata must lead to the repository's own files, not to
// copies that could drift.
func TestSourcesAreTheRepositorys(t *testing.T) {
	for _, link := range []string{servicesDir, composeFile} {
		name := filepath.Base(link)
		viaLink, err := os.Stat(link)
		if err != nil {
			t.Errorf("%s: %v; want a symbolic link to ../../%s", link, err, name)
			continue
		}
		real, err := os.Stat(filepath.Join("..", name))
		if err != nil {
			t.Fatalf("repository's %s: %v", name, err)
		}
		if !os.SameFile(viaLink, real) {
			t.Errorf("%s is not the repository's %s; want a symbolic link to ../../%s", link, name, name)
		}
	}
}

// The source reader must find what the services are known to read and
// serve, or every check built on it would pass vacuously.
func TestSourceReaderFindsWhatServicesRead(t *testing.T) {
	common := commonEnv()
	for _, want := range []string{"KAFKA_BROKERS", "ADMIN_TOKEN", "ALLOWED_HOSTS", "SHUTDOWN_DELAY"} {
		if !slices.Contains(common, want) {
			t.Errorf("svc.Common reads %v; want %s among them", common, want)
		}
	}
	for _, name := range kitServices(t) {
		src := readService(t, name)
		if src.env["HTTP_ADDR"] == "" {
			t.Errorf("%s: found no default HTTP_ADDR (env %v)", name, src.env)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if !src.serves(path) {
				t.Errorf("%s: found no GET %s route (routes %v)", name, path, src.routes)
			}
		}
		if src.user == "" {
			t.Errorf("%s: its Dockerfile has no USER", name)
		}
	}
	if got := readService(t, "stock-service").groups; !slices.Contains(got, events.GroupStockService) {
		t.Errorf("stock-service joins %v; want %s found", got, events.GroupStockService)
	}
	if got := readService(t, "notifications-api").groups; len(got) != 0 {
		t.Errorf("notifications-api joins %v; want no group (it reads every partition itself)", got)
	}
}
