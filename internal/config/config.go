// Package config loads a command's settings from, in rising precedence, the
// defaults of its flags, an optional YAML file, GWANJE_* environment
// variables and the command line. Every setting is a flag, so one table
// documents them all; errors name the setting and where its value came from.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable for a flag: "database-url" →
// "GWANJE_DATABASE_URL".
func EnvName(flagName string) string {
	return "GWANJE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load parses args into fs, then fills every flag not given on the command
// line from the environment or, failing that, from the YAML file named by
// the flag configFlag (when fs has it and it is set). YAML keys are flag
// names; unknown keys are an error.
func Load(fs *flag.FlagSet, args []string, configFlag string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	onCmdline := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCmdline[f.Name] = true })

	var errs []error
	fromEnv := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if onCmdline[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			fromEnv[f.Name] = true
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	if cf := fs.Lookup(configFlag); cf != nil && cf.Value.String() != "" {
		path := cf.Value.String()
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f := fs.Lookup(k)
			if f == nil || k == configFlag {
				errs = append(errs, fmt.Errorf("config file %s: unknown setting %q", path, k))
				continue
			}
			if onCmdline[k] || fromEnv[k] {
				continue
			}
			if yv, ok := f.Value.(YAMLValue); ok {
				if err := yv.SetYAML(m[k]); err != nil {
					errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, k, err))
				}
				continue
			}
			if err := fs.Set(k, yamlString(m[k])); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, k, err))
			}
		}
	}
	return errors.Join(errs...)
}

// YAMLValue is a flag value that also takes structured YAML (a list of
// maps, say) from the config file, where a plain flag.Value gets the value
// flattened to a string.
type YAMLValue interface {
	flag.Value
	// SetYAML sets the value from the decoded YAML value (string, number,
	// bool, []any or map[string]any).
	SetYAML(v any) error
}

func yamlString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

// StringList is a flag holding a comma-separated list.
type StringList []string

func (s *StringList) String() string { return strings.Join(*s, ",") }

// Set replaces the list with the comma-separated values in v.
func (s *StringList) Set(v string) error {
	*s = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}
