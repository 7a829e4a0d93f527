package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var excerptRe = regexp.MustCompile(`^<!-- excerpt: (\S+) -->$`)

// TestBlogExcerptsAreInTheCode holds every Go excerpt in docs/blog to the
// code: each is marked with the file it comes from and must still appear
// there, verbatim. An excerpt that no longer matches means the post needs
// the new code, not that the test needs loosening.
func TestBlogExcerptsAreInTheCode(t *testing.T) {
	root := repoRoot(t)
	posts, err := filepath.Glob(filepath.Join(root, "docs", "blog", "*.md"))
	if err != nil || len(posts) == 0 {
		t.Fatalf("no posts in docs/blog: %v", err)
	}
	for _, post := range posts {
		b, err := os.ReadFile(post)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(post)
		excerpts := 0
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			if lines[i] != "```go" {
				continue
			}
			start := i
			var body []string
			for i++; i < len(lines) && lines[i] != "```"; i++ {
				body = append(body, lines[i])
			}
			m := excerptRe.FindStringSubmatch(lineBefore(lines, start))
			if m == nil {
				t.Errorf("%s:%d: a Go block without <!-- excerpt: <file> --> on the line before it", name, start+1)
				continue
			}
			excerpts++
			src, err := os.ReadFile(filepath.Join(root, m[1]))
			if err != nil {
				t.Errorf("%s:%d: the excerpt's file: %v", name, start+1, err)
				continue
			}
			if !strings.Contains(string(src), strings.Join(body, "\n")+"\n") {
				t.Errorf("%s:%d: the excerpt is no longer in %s, as written; update the post from the code:\n%s", name, start+1, m[1], strings.Join(body, "\n"))
			}
		}
		if excerpts == 0 {
			t.Errorf("%s has no code excerpts", name)
		}
	}
}

func lineBefore(lines []string, i int) string {
	if i == 0 {
		return ""
	}
	return lines[i-1]
}
