package docs

import (
	"fmt"
	"html"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	gherkin "github.com/cucumber/gherkin/go/v42"
	messages "github.com/cucumber/messages/go/v34"
)

// scenarioRef is a scenario as a lesson links it: its feature file
// (relative to the repository's root) and its name.
type scenarioRef struct{ file, name string }

func (s scenarioRef) String() string { return fmt.Sprintf("%q in %s", s.name, s.file) }

// concepts reads every feature file and returns, per @concept-… tag, the
// scenarios that carry it (a tag on a Feature or Rule counts for each of
// its scenarios), and every scenario there is.
func concepts(t *testing.T, root string) (byConcept map[string][]scenarioRef, all map[scenarioRef]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "features", "*.feature"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no feature files under features/: %v", err)
	}
	byConcept, all = map[string][]scenarioRef{}, map[scenarioRef]bool{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := gherkin.ParseGherkinDocument(f, (&messages.Incrementing{}).NewId)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		rel, _ := filepath.Rel(root, file)
		add := func(sc *messages.Scenario, inherited []*messages.Tag) {
			ref := scenarioRef{filepath.ToSlash(rel), sc.Name}
			all[ref] = true
			for _, tag := range append(slices.Clone(inherited), sc.Tags...) {
				if strings.HasPrefix(tag.Name, "@concept-") && !slices.Contains(byConcept[tag.Name], ref) {
					byConcept[tag.Name] = append(byConcept[tag.Name], ref)
				}
			}
		}
		for _, child := range doc.Feature.Children {
			if child.Scenario != nil {
				add(child.Scenario, doc.Feature.Tags)
			}
			if child.Rule != nil {
				for _, rc := range child.Rule.Children {
					if rc.Scenario != nil {
						add(rc.Scenario, append(slices.Clone(doc.Feature.Tags), child.Rule.Tags...))
					}
				}
			}
		}
	}
	return byConcept, all
}

var (
	conceptHeadingRe = regexp.MustCompile("^### `(@concept-[a-z-]+)`")
	scenarioLinkRe   = regexp.MustCompile(`^- \[(.+)\]\((\.\./\.\./features/[a-z_]+\.feature)\)\s*$`)
)

// scenarioLinks returns the list items of a section of md that link a
// scenario: "- [name](../../features/file.feature)".
func scenarioLinks(lines []string) []scenarioRef {
	var refs []scenarioRef
	for _, line := range lines {
		if m := scenarioLinkRe.FindStringSubmatch(line); m != nil {
			refs = append(refs, scenarioRef{strings.TrimPrefix(m[2], "../../"), html.UnescapeString(m[1])})
		}
	}
	return refs
}

// TestConceptListMatchesTheTags holds docs/learn/README.md's list of
// scenarios per concept to the @concept-… tags in features/.
func TestConceptListMatchesTheTags(t *testing.T) {
	root := repoRoot(t)
	byConcept, _ := concepts(t, root)
	md, err := os.ReadFile(filepath.Join(root, "docs", "learn", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string][]scenarioRef{}
	var concept string
	for _, line := range strings.Split(string(md), "\n") {
		if m := conceptHeadingRe.FindStringSubmatch(line); m != nil {
			concept = m[1]
			listed[concept] = nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			concept = ""
		}
		if concept != "" {
			listed[concept] = append(listed[concept], scenarioLinks([]string{line})...)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(byConcept)) {
		want, got := byConcept[c], listed[c]
		for _, ref := range want {
			if !slices.Contains(got, ref) {
				t.Errorf("docs/learn/README.md: %s does not list %v, which carries the tag", c, ref)
			}
		}
		for _, ref := range got {
			if !slices.Contains(want, ref) {
				t.Errorf("docs/learn/README.md: %s lists %v, which does not carry the tag", c, ref)
			}
		}
	}
	for c := range listed {
		if byConcept[c] == nil {
			t.Errorf("docs/learn/README.md lists %s, a tag no scenario carries", c)
		}
	}
}

// TestEveryLessonHasItsParts checks what each lesson promises: one
// diagram, commands to run, what to look for, the scenarios that prove it
// (which exist) and a question with its answer folded away.
func TestEveryLessonHasItsParts(t *testing.T) {
	root := repoRoot(t)
	_, all := concepts(t, root)
	files, err := filepath.Glob(filepath.Join(root, "docs", "learn", "[0-9][0-9]-*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		md, name := string(b), filepath.Base(file)
		if n := strings.Count(md, "```mermaid"); n != 1 {
			t.Errorf("%s has %d mermaid diagrams, want one", name, n)
		}
		for _, section := range []string{"## Try it", "## What to look for", "## The proof", "## Check yourself"} {
			if !strings.Contains(md, "\n"+section+"\n") {
				t.Errorf("%s lacks the section %q", name, section)
			}
		}
		if !strings.Contains(md, "```sh\n") {
			t.Errorf("%s has no command to run", name)
		}
		if !strings.Contains(md, "<details>") || !strings.Contains(md, "<summary>Answer</summary>") {
			t.Errorf("%s has no answer folded in <details>", name)
		}
		_, proof, _ := strings.Cut(md, "\n## The proof\n")
		proof, _, _ = strings.Cut(proof, "\n## ")
		refs := scenarioLinks(strings.Split(proof, "\n"))
		if len(refs) == 0 {
			t.Errorf("%s: its proof section links no scenario", name)
		}
		for _, ref := range refs {
			if !all[ref] {
				t.Errorf("%s: the proof links %v, and there is no such scenario", name, ref)
			}
		}
	}
}

var linkRe = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestRelativeLinksResolve checks that every relative link in docs/ leads
// to a file or folder of the repository.
func TestRelativeLinksResolve(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range linkRe.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s links %s, which does not exist", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
