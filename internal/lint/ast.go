package lint

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The parse tree comes from libpg_query as JSON, decoded into the few node
// shapes the rules look at. (go-pgquery also offers the tree as pg_query_go
// protobuf types, but registering those ~300 message types costs every
// fleetgate process about 4 ms at start-up, check or not, and a no-op `up`
// is what every instance of a fleet runs at every start.)
//
// Keys are libpg_query's: the protobuf JSON names, so some are camelCase
// (typeName) and some snake_case (raw_expr). Zero values are omitted, as
// in protobuf JSON: a missing location is 0, a missing flag false.

// node is one node of the tree, {"KindName": {...fields...}}.
type node struct {
	kind string
	raw  json.RawMessage
}

func (n *node) UnmarshalJSON(b []byte) error {
	// libpg_query writes a node as one key with no spaces: read it as
	// such, without a map per node (decoding the tree was half of a
	// check's time). The caller validated b; anything else goes the
	// general way.
	if len(b) > 4 && b[0] == '{' && b[1] == '"' && b[len(b)-1] == '}' {
		if end := bytes.IndexByte(b[2:], '"') + 2; end > 2 && end+1 < len(b)-1 && b[end+1] == ':' &&
			bytes.IndexByte(b[2:end], '\\') < 0 && oneValue(b[end+2:len(b)-1]) {
			n.kind, n.raw = string(b[2:end]), append(json.RawMessage(nil), b[end+2:len(b)-1]...)
			return nil
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		n.kind, n.raw = k, v
	}
	return nil
}

// oneValue reports whether v, valid JSON text inside an object after a
// key, is a single object or array (and so the object's only value): its
// bracket closes at its last byte.
func oneValue(v []byte) bool {
	if len(v) < 2 || (v[0] != '{' && v[0] != '[') {
		return false
	}
	depth, inStr := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i == len(v)-1
			}
		}
	}
	return false
}

// as decodes the node into v if it is of kind; it reports whether it did.
func (n *node) as(kind string, v any) bool {
	if n == nil || n.kind != kind {
		return false
	}
	return json.Unmarshal(n.raw, v) == nil
}

func (n *node) is(kind string) bool { return n != nil && n.kind == kind }

// str returns the value of a String node.
func (n *node) str() (string, bool) {
	var s struct {
		Sval string `json:"sval"`
	}
	ok := n.as("String", &s)
	return s.Sval, ok
}

// stringsOf returns the String values of a list of nodes (a qualified
// name, a column list).
func stringsOf(ns []node) []string {
	out := make([]string, 0, len(ns))
	for i := range ns {
		if s, ok := ns[i].str(); ok {
			out = append(out, s)
		}
	}
	return out
}

func lastString(ns []node) string {
	s := stringsOf(ns)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

type rangeVar struct {
	Schemaname string `json:"schemaname"`
	Relname    string `json:"relname"`
	Location   int32  `json:"location"`
}

func (r *rangeVar) loc() int32 {
	if r == nil {
		return -1
	}
	return r.Location
}

type alterTableStmt struct {
	Relation *rangeVar `json:"relation"`
	Cmds     []node    `json:"cmds"`
	Objtype  string    `json:"objtype"`
}

type alterTableCmd struct {
	Subtype string `json:"subtype"`
	Name    string `json:"name"`
	Def     *node  `json:"def"`
}

type columnDef struct {
	Colname     string    `json:"colname"`
	TypeName    *typeName `json:"typeName"`
	IsNotNull   bool      `json:"is_not_null"`
	RawDefault  *node     `json:"raw_default"`
	Identity    string    `json:"identity"`
	Generated   string    `json:"generated"`
	Constraints []node    `json:"constraints"`
	Location    int32     `json:"location"`
}

type typeName struct {
	Names   []node `json:"names"`
	Typmods []node `json:"typmods"`
}

type constraint struct {
	Contype        string    `json:"contype"`
	Conname        string    `json:"conname"`
	SkipValidation bool      `json:"skip_validation"`
	Indexname      string    `json:"indexname"`
	Pktable        *rangeVar `json:"pktable"`
	Keys           []node    `json:"keys"`
	Including      []node    `json:"including"`
	FkAttrs        []node    `json:"fk_attrs"`
	PkAttrs        []node    `json:"pk_attrs"`
	Location       int32     `json:"location"`
}

type renameStmt struct {
	RenameType   string    `json:"renameType"`
	RelationType string    `json:"relationType"`
	Relation     *rangeVar `json:"relation"`
	Subname      string    `json:"subname"`
	Newname      string    `json:"newname"`
}

type dropStmt struct {
	Objects    []node `json:"objects"`
	RemoveType string `json:"removeType"`
	Concurrent bool   `json:"concurrent"`
}

// names returns the qualified names a DROP lists.
func (d *dropStmt) names() [][]string {
	var out [][]string
	for i := range d.Objects {
		var l struct {
			Items []node `json:"items"`
		}
		if d.Objects[i].as("List", &l) {
			out = append(out, stringsOf(l.Items))
		}
	}
	return out
}

type indexStmt struct {
	Idxname    string    `json:"idxname"`
	Relation   *rangeVar `json:"relation"`
	Unique     bool      `json:"unique"`
	Concurrent bool      `json:"concurrent"`
}

type vacuumStmt struct {
	Options     []node `json:"options"`
	Rels        []node `json:"rels"`
	IsVacuumcmd bool   `json:"is_vacuumcmd"`
}

type clusterStmt struct {
	Relation *rangeVar `json:"relation"`
}

type reindexStmt struct {
	Relation *rangeVar `json:"relation"`
	Name     string    `json:"name"`
	Params   []node    `json:"params"`
}

type lockStmt struct {
	Relations []node `json:"relations"`
	Mode      int32  `json:"mode"`
}

type updateStmt struct {
	Relation    *rangeVar `json:"relation"`
	WhereClause *node     `json:"whereClause"`
}

type deleteStmt struct {
	Relation    *rangeVar `json:"relation"`
	WhereClause *node     `json:"whereClause"`
}

type truncateStmt struct {
	Relations []node `json:"relations"`
	Behavior  string `json:"behavior"`
}

type alterDomainStmt struct {
	Subtype  string `json:"subtype"`
	TypeName []node `json:"typeName"`
	Name     string `json:"name"`
	Def      *node  `json:"def"`
}

type alterEnumStmt struct {
	TypeName []node `json:"typeName"`
	OldVal   string `json:"oldVal"`
	NewVal   string `json:"newVal"`
}

type intoClause struct {
	Rel *rangeVar `json:"rel"`
}

type defElem struct {
	Defname string `json:"defname"`
	Arg     *node  `json:"arg"`
}

// aConst is a constant; exactly one of the values is set unless it is NULL.
type aConst struct {
	Ival *struct {
		Ival int32 `json:"ival"`
	} `json:"ival"`
	Sval *struct {
		Sval string `json:"sval"`
	} `json:"sval"`
	Boolval *struct {
		Boolval bool `json:"boolval"`
	} `json:"boolval"`
	Location int32 `json:"location"`
}

// relationOf returns the RangeVar of a node that is one.
func relationOf(n *node) *rangeVar {
	var rv rangeVar
	if n.as("RangeVar", &rv) {
		return &rv
	}
	return nil
}

// visit walks the generic form of a subtree and calls fn with the kind
// and fields of every node in it. A relation that appears as a plain
// field value (not wrapped in a node) is reported as kind "RangeVar".
func visit(raw json.RawMessage, fn func(kind string, fields map[string]any)) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return
	}
	var walk func(v any)
	fields := func(m map[string]any) {
		for _, e := range m {
			walk(e)
		}
	}
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if len(x) == 1 {
				for k, inner := range x {
					if m, ok := inner.(map[string]any); ok && isNodeKind(k) {
						fn(k, m)
						fields(m)
						return
					}
				}
			}
			if _, ok := x["relname"]; ok {
				fn("RangeVar", x)
			}
			fields(x)
		}
	}
	if m, ok := v.(map[string]any); ok {
		fields(m) // the root is the fields of the statement's own node
	}
}

// isNodeKind reports whether a key names a node type (A_Const, RangeVar),
// as opposed to a field (relation, sval): node types are capitalised.
func isNodeKind(k string) bool { return k != "" && k[0] >= 'A' && k[0] <= 'Z' }

func fieldString(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func fieldInt(m map[string]any, k string) int32 {
	f, _ := m[k].(float64)
	return int32(f)
}

// fieldStrings returns the String values of a list field.
func fieldStrings(m map[string]any, k string) []string {
	l, _ := m[k].([]any)
	var out []string
	for _, e := range l {
		if n, ok := e.(map[string]any); ok {
			if s, ok := n["String"].(map[string]any); ok {
				out = append(out, fieldString(s, "sval"))
			}
		}
	}
	return out
}

// containsFold reports whether s contains sub, ignoring ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
