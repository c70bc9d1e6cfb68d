package sts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// Tag is a session tag.
type Tag struct {
	Key, Value string
}

// sessionTags builds the tag set of a new session, as the three actions
// that issue sessions take it: first the transitive tags inherited from the
// calling session (AssumeRole), then the requested ones, then the
// transitive keys. Keys compare case-insensitively (AWS keeps one tag per
// key whatever its case), none may start with the reserved "aws:", and a
// transitive key must name a requested tag. Each action words the refusals
// its own way; the rules are here.
type sessionTags struct {
	tags       map[string]string
	transitive []string
	inherited  map[string]bool // lower-cased keys
	requested  map[string]bool // lower-cased keys
}

// The refusals of sessionTags.
var (
	errTagReserved      = errors.New("tag key starts with the reserved prefix aws:")
	errTagDuplicate     = errors.New("duplicate tag key (keys are case-insensitive)")
	errTagInherited     = errors.New("tag key is the key of an inherited transitive tag")
	errTransitiveNotTag = errors.New("transitive tag key is not a session tag of the request")
)

// inherit carries the caller's transitive tags into the session.
func (t *sessionTags) inherit(caller *Session) {
	for _, k := range caller.TransitiveTagKeys {
		if val, ok := caller.Tags[k]; ok {
			t.put(k, val)
			t.transitive = append(t.transitive, k)
			if t.inherited == nil {
				t.inherited = map[string]bool{}
			}
			t.inherited[strings.ToLower(k)] = true
		}
	}
}

// add adds a requested tag.
func (t *sessionTags) add(key, value string) error {
	lk := strings.ToLower(key)
	switch {
	case awsspec.HasReservedPrefix(key):
		return errTagReserved
	case t.requested[lk]:
		return errTagDuplicate
	case t.inherited[lk]:
		return errTagInherited
	}
	if t.requested == nil {
		t.requested = map[string]bool{}
	}
	t.requested[lk] = true
	t.put(key, value)
	return nil
}

// addTransitive marks the requested tag key as transitive.
func (t *sessionTags) addTransitive(key string) error {
	if !t.requested[strings.ToLower(key)] {
		return errTransitiveNotTag
	}
	t.transitive = append(t.transitive, key)
	return nil
}

func (t *sessionTags) put(k, v string) {
	if t.tags == nil {
		t.tags = map[string]string{}
	}
	t.tags[k] = v
}

// checkFederatedTag checks the text of a tag that an identity provider
// sets (SAML PrincipalTag attributes, the web identity tags claim): the
// tag alphabet and lengths, and no value starting with "aws:" (AWS refuses
// one in a federated session). The key's prefix is sessionTags's rule.
func checkFederatedTag(k, v string) error {
	if n := utf8.RuneCountInString(k); n < 1 || n > awsspec.MaxTagKeyLen || !tagKeyChars.valid(k) {
		return fmt.Errorf("invalid tag key %q", k)
	}
	if utf8.RuneCountInString(v) > awsspec.MaxTagValueLen || !tagValueChars.valid(v) || awsspec.HasReservedPrefix(v) {
		return fmt.Errorf("invalid value for tag %q", k)
	}
	return nil
}

// checkSourceIdentity checks a source identity an identity provider sets:
// a name of the session-name alphabet, not starting with "aws:".
func checkSourceIdentity(si string) error {
	if !validName(si) || awsspec.HasReservedPrefix(si) {
		return fmt.Errorf("invalid source identity %q", si)
	}
	return nil
}

// tagsParam reads Tags.member.N.Key/Value; a member without Key or Value is
// a null-constraint violation recorded in v.
func tagsParam(req *Request, name string, v *validation) ([]Tag, error) {
	list, err := req.StructList(name, "Key", "Value")
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(list))
	for i, m := range list {
		k, hasK := m["Key"]
		val, hasV := m["Value"]
		member := lowerFirst(name) + "." + strconv.Itoa(i+1) + ".member."
		if !hasK {
			v.null(member + "key")
		}
		if !hasV {
			v.null(member + "value")
		}
		out = append(out, Tag{Key: k, Value: val})
	}
	return out, nil
}

// checkTags applies the Tag list constraints (STS-SPEC §2, §8.2).
func (v *validation) checkTags(member string, tags []Tag) {
	if len(tags) > awsspec.MaxSessionTags {
		v.add(member, tagsString(tags), false, "have length less than or equal to "+strconv.Itoa(awsspec.MaxSessionTags))
	}
	for i, t := range tags {
		pfx := member + "." + strconv.Itoa(i+1) + ".member."
		// Key is required: a member without one was refused as null when
		// the request was read, so an empty Key here was sent empty.
		v.checkParam(pfx+"key", t.Key, true, true, false, 1, awsspec.MaxTagKeyLen, tagKeyChars)
		v.checkParam(pfx+"value", t.Value, true, true, false, 0, awsspec.MaxTagValueLen, tagValueChars)
	}
}

func tagsString(tags []Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = "Tag(key=" + t.Key + ", value=" + t.Value + ")"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkTransitiveKeys applies the TransitiveTagKeys list constraints.
func (v *validation) checkTransitiveKeys(keys []string) {
	if len(keys) > awsspec.MaxSessionTags {
		v.add("transitiveTagKeys", "["+strings.Join(keys, ", ")+"]", false, "have length less than or equal to "+strconv.Itoa(awsspec.MaxSessionTags))
	}
	for i, k := range keys {
		// A list member is always present; an empty one was sent empty.
		v.checkParam("transitiveTagKeys."+strconv.Itoa(i+1)+".member", k, true, true, false, 1, awsspec.MaxTagKeyLen, tagKeyChars)
	}
}

// tagsOf is a tag list as a map.
func tagsOf(list []Tag) map[string]string {
	m := make(map[string]string, len(list))
	for _, t := range list {
		m[t.Key] = t.Value
	}
	return m
}
