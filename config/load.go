package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment override: the key path joined with "_"
// and upper-cased, e.g. BDR_REPLICATION_CONCURRENCY for
// replication.concurrency and BDR_REGIONS_PRIMARY_OBJECT_STORE_BUCKET for
// regions.primary.object_store.bucket.
const EnvPrefix = "BDR"

// Load reads the YAML file at path ("" means no file: defaults and
// environment only), applies BDR_… environment overrides to every key,
// decodes strictly (an unknown key is an error naming its full path), fills
// per-region defaults and validates. All problems are reported together,
// each naming its key.
//
// Environment values are strings: numbers, booleans, durations ("1s") and
// sizes ("1GiB") parse as in YAML; a list is either comma-separated
// (BDR_REPLICATION_EXCLUDE='*/storage_locks/*,*/tmp/*') or a YAML flow
// sequence (BDR_DATABASES='[{name: db, root_path: db_folder}]'). A region
// that appears only in the environment is created by its variables
// (BDR_REGIONS_<NAME>_OBJECT_STORE_ENDPOINT, …). Empty variables are ignored.
//
// Load is the only place viper is used; it is safe for concurrent use
// because it shares no state between calls.
func Load(path string) (*Config, error) {
	where := "config"
	if path != "" {
		where = "config " + path
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
	}

	// Defaults and env bindings for every fixed key. Binding each key
	// explicitly (rather than viper.AutomaticEnv) makes keys that are absent
	// from both the file and the defaults, like databases, overridable too.
	for _, l := range leaves(reflect.ValueOf(Default()), "") {
		if !(l.value.Kind() == reflect.Slice && l.value.Len() == 0) {
			v.SetDefault(l.key, l.value.Interface())
		}
		if err := v.BindEnv(l.key, envName(l.key)); err != nil {
			return nil, fmt.Errorf("%s: bind %s: %w", where, l.key, err)
		}
	}
	// Region names are data, so their keys are bound once the names are
	// known: from the file and from BDR_REGIONS_<NAME>_<LEAF> variables.
	regionLeaves := leaves(reflect.ValueOf(Region{}), "")
	for _, name := range regionNames(v.GetStringMap("regions"), os.Environ(), regionLeaves) {
		for _, l := range regionLeaves {
			key := "regions." + name + "." + l.key
			if err := v.BindEnv(key, envName(key)); err != nil {
				return nil, fmt.Errorf("%s: bind %s: %w", where, key, err)
			}
		}
	}

	var c Config
	if err := decode(v.AllSettings(), &c); err != nil {
		return nil, fmt.Errorf("%s:\n%w", where, err)
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: invalid:\n%w", where, err)
	}
	return &c, nil
}

// envName is the environment variable that overrides key.
func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

type leaf struct {
	key   string
	value reflect.Value
}

// leaves lists the fixed keys under v (a struct) with their values: nested
// structs are walked, maps are skipped (their keys are data), anything else
// (scalars, lists) is a leaf.
func leaves(v reflect.Value, prefix string) []leaf {
	var out []leaf
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + fieldKey(f)
		switch f.Type.Kind() {
		case reflect.Struct:
			out = append(out, leaves(v.Field(i), key+".")...)
		case reflect.Map:
		default:
			out = append(out, leaf{key: key, value: v.Field(i)})
		}
	}
	return out
}

// fieldKey is the bdr.yaml key of a struct field: its mapstructure tag.
func fieldKey(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ","); tag != "" {
		return tag
	}
	return strings.ToLower(f.Name)
}

// regionNames returns the sorted region names found in the file's regions
// map and in non-empty BDR_REGIONS_<NAME>_<LEAF> variables. A variable is
// matched by its leaf suffix, so names containing "_" work too.
func regionNames(fromFile map[string]any, environ []string, regionLeaves []leaf) []string {
	set := map[string]bool{}
	for name := range fromFile {
		set[name] = true
	}
	prefix := envName("regions") + "_"
	for _, kv := range environ {
		k, val, _ := strings.Cut(kv, "=")
		if val == "" || !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		for _, l := range regionLeaves {
			suffix := "_" + strings.ToUpper(strings.ReplaceAll(l.key, ".", "_"))
			if len(rest) > len(suffix) && strings.HasSuffix(rest, suffix) {
				set[strings.ToLower(rest[:len(rest)-len(suffix)])] = true
				break
			}
		}
	}
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// decode turns viper's settings into c, reporting unknown keys and type
// errors together as *FieldError values with full key paths.
func decode(settings map[string]any, c *Config) error {
	var errs []*FieldError
	for _, key := range unknownKeys(settings, reflect.TypeOf(*c), "") {
		errs = append(errs, &FieldError{Key: key, Problem: "unknown key"})
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			delayHook,
			durationHook,
			byteSizeHook,
			listHook,
			mapstructure.StringToBasicTypeHookFunc(),
		),
		Result: c,
	})
	if err != nil {
		return fmt.Errorf("build decoder: %w", err)
	}
	if err := dec.Decode(settings); err != nil {
		errs = append(errs, decodeErrors(err)...)
	}
	return joinSorted(errs)
}

// unknownKeys walks data against the shape of t and returns the full path of
// every key t has no field for. It is done here rather than with
// mapstructure's ErrorUnused so that all unknown keys are reported, with
// paths in bdr.yaml's own spelling (regions.primary.x, not regions[primary].x).
func unknownKeys(data any, t reflect.Type, path string) []string {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		m, ok := data.(map[string]any)
		if !ok {
			return nil
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			fields[fieldKey(t.Field(i))] = t.Field(i).Type
		}
		for k, v := range m {
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				out = append(out, join(k))
				continue
			}
			out = append(out, unknownKeys(v, ft, join(k))...)
		}
	case reflect.Map:
		if m, ok := data.(map[string]any); ok {
			for k, v := range m {
				out = append(out, unknownKeys(v, t.Elem(), join(k))...)
			}
		}
	case reflect.Slice:
		if s, ok := data.(string); ok {
			parsed, err := parseList(s, t)
			if err != nil {
				return nil // reported by the decoder
			}
			data = parsed
		}
		if s, ok := data.([]any); ok {
			for i, v := range s {
				out = append(out, unknownKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return out
}

// decodeErrors converts mapstructure's errors into FieldErrors.
func decodeErrors(err error) []*FieldError {
	var out []*FieldError
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			out = append(out, decodeErrors(e)...)
		}
		return out
	}
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		return []*FieldError{{Key: yamlPath(de.Name()), Problem: de.Unwrap().Error()}}
	}
	return []*FieldError{{Key: "config", Problem: err.Error()}}
}

// yamlPath rewrites mapstructure's map notation, regions[primary].bucket,
// as regions.primary.bucket; list indexes, databases[0].name, stay.
func yamlPath(name string) string {
	return regexp.MustCompile(`\[([^\]0-9][^\]]*)\]`).ReplaceAllString(name, ".$1")
}

// durationHook decodes "1s", "24h" into time.Duration. A bare number other
// than 0 is refused: "poll_interval: 1" would otherwise mean one nanosecond.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q: want e.g. 500ms, 1s, 24h", d)
		}
		return v, nil
	case time.Duration:
		return d, nil
	case int, int64, uint64, float64:
		if reflect.ValueOf(d).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit: want e.g. 500ms, 1s, 24h", d)
	}
	return data, nil
}

// delayHook decodes replication.delete_delay into Delay: "never" (any case, spaces around it
// ignored) is NeverDelete; anything else is a duration by durationHook's rules and must not be
// negative, so that no duration ("-1ns") can become NeverDelete.
func delayHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[Delay]() {
		return data, nil
	}
	switch d := data.(type) {
	case Delay:
		return d, nil
	case string:
		if strings.EqualFold(strings.TrimSpace(d), "never") {
			return NeverDelete, nil
		}
	}
	v, err := durationHook(from, reflect.TypeFor[time.Duration](), data)
	if err != nil {
		return nil, fmt.Errorf("%w, or never", err)
	}
	d, ok := v.(time.Duration)
	if !ok {
		return data, nil // not a duration: the decoder reports the type error
	}
	if d < 0 {
		return nil, fmt.Errorf("must be >= 0 or never, got %s", formatDuration(d))
	}
	return Delay(d), nil
}

// byteSizeHook decodes integers and strings such as "1GiB" into ByteSize.
func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[ByteSize]() {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return ParseByteSize(d)
	case float64:
		// YAML reads 1e9 as a float; accept it only when it is a whole number.
		if d != float64(int64(d)) {
			return nil, fmt.Errorf("invalid size %v: not a whole number of bytes", d)
		}
		return ByteSize(int64(d)), nil
	}
	return data, nil
}

// listHook decodes a string (from the environment) into a list: a YAML flow
// sequence "[…]" for any list, or comma-separated values for a list of
// strings.
func listHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice {
		return data, nil
	}
	return parseList(s, to)
}

func parseList(s string, to reflect.Type) (any, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var out []any
		if err := yaml.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("invalid list %q: %w", s, err)
		}
		return out, nil
	}
	if to.Elem().Kind() != reflect.String {
		return nil, fmt.Errorf("invalid list: want a YAML flow sequence such as [{name: a, root_path: b}]")
	}
	out := []any{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out, nil
}
