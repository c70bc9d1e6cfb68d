package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/cli"
)

const loginUsage = `usage: idbroker login [--url URL] [--provider P] [--profile NAME] [--role R]...
                      [--username U --password-stdin] [--browser | --device] [--no-browser]

Sign in to the broker once, and write one AWS profile per granted role into the
AWS config file ($AWS_CONFIG_FILE, else ~/.aws/config). Each profile runs
"idbroker credential-process", so the AWS CLI and SDKs get keys from the session
until it ends, without the password again.

How you sign in follows the provider: a password asked here for ldap and static
providers, the browser for saml and oidc ones. --browser uses the browser for any
provider, --device shows a code to approve from another device (SSH, containers).

examples:
  idbroker login --url https://idbroker.example.com
  idbroker login --url http://127.0.0.1:8080 --provider demo --role Admin --profile demo-admin
  echo "$PASSWORD" | idbroker login --url https://idbroker.example.com --username alice --password-stdin
  idbroker login --url https://idbroker.example.com --device
  idbroker login --profile demo-admin      # again, when the session has ended

flags:
`

// loginFlags are the flags of idbroker login.
type loginFlags struct {
	url, provider, profile, username, region  string
	roles                                     stringList
	passwordStdin, browser, device, noBrowser bool
	regionSet                                 bool
}

func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var f loginFlags
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, loginUsage); fs.PrintDefaults() }
	fs.StringVar(&f.url, "url", "", "the broker's URL (default: $IDBROKER_URL, or the URL of --profile's last sign-in)")
	fs.StringVar(&f.provider, "provider", "", "the provider to sign in with (default: the broker's only one, or asked)")
	fs.StringVar(&f.profile, "profile", "", "the AWS profile to write, for one role (default: one profile per role, named after it)")
	fs.Var(&f.roles, "role", "a role (name or ARN) to write a profile for; repeat for several (default: every granted role)")
	fs.StringVar(&f.username, "username", "", "the username (password providers)")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of stdin (with --username)")
	fs.BoolVar(&f.browser, "browser", false, "sign in with the browser, whatever the provider")
	fs.BoolVar(&f.device, "device", false, "sign in with a code approved in a browser on any device")
	fs.BoolVar(&f.noBrowser, "no-browser", false, "print the sign-in link instead of opening a browser")
	fs.StringVar(&f.region, "region", "", "the profiles' region (default: kept, else $AWS_REGION, $AWS_DEFAULT_REGION or us-east-1)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fs.Visit(func(fl *flag.Flag) { f.regionSet = f.regionSet || fl.Name == "region" })
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "idbroker login: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if msg := f.check(); msg != "" {
		fmt.Fprintln(stderr, "idbroker login:", msg)
		return 2
	}
	if err := login(ctx, &f, stdin, stdout, stderr); err != nil {
		return cliFailed(stderr, "login", err)
	}
	return 0
}

// check refuses flags that contradict each other.
func (f *loginFlags) check() string {
	switch {
	case f.browser && f.device:
		return "--browser and --device are two ways in: choose one"
	case (f.browser || f.device) && (f.username != "" || f.passwordStdin):
		return "--username and --password-stdin are for the password way, not --browser or --device"
	case f.passwordStdin && f.username == "":
		return "--password-stdin needs --username"
	case f.profile != "" && cli.CheckProfileName(f.profile) != nil:
		return cli.CheckProfileName(f.profile).Error()
	case f.region != "" && !regionName.MatchString(f.region):
		return fmt.Sprintf("--region %q is not a region name (like us-east-1)", f.region)
	case f.profile != "" && len(f.roles) > 1:
		return "--profile names one profile: give at most one --role with it"
	}
	return ""
}

var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)

// way is how the person signs in.
type way int

const (
	wayPassword way = iota + 1
	wayBrowser
	wayDevice
)

func login(ctx context.Context, f *loginFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	cache, err := openCLICache()
	if err != nil {
		return err
	}
	exe, err := selfPath()
	if err != nil {
		return err
	}
	cfgPath, err := cli.ConfigFilePath()
	if err != nil {
		return err
	}
	// A profile signed in before names its broker, provider and role.
	var prev *cli.ProfileBinding
	if f.profile != "" {
		if b, err := cache.Profile(f.profile); err == nil {
			prev = b
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	rawURL := f.url
	if rawURL == "" {
		rawURL = os.Getenv("IDBROKER_URL")
	}
	if rawURL == "" && prev != nil {
		rawURL = prev.BrokerURL
	}
	if rawURL == "" {
		return errors.New("which broker? pass --url URL (or set IDBROKER_URL)")
	}
	base, err := cli.NormalizeBrokerURL(rawURL)
	if err != nil {
		return err
	}
	client := brokerClient(base)
	provider := f.provider
	if provider == "" && prev != nil && prev.BrokerURL == base {
		provider = prev.Provider
	}
	tty, isTTY := terminal(stdin)
	var ask *prompter
	if isTTY {
		ask = newPrompter(tty, stderr)
	}

	w, provider, err := chooseWay(ctx, client, f, provider, ask)
	if err != nil {
		return err
	}
	var token string
	switch w {
	case wayPassword:
		token, err = passwordLogin(ctx, client, f, provider, stdin, ask)
	case wayBrowser:
		token, err = browserLogin(ctx, client, f, provider, stderr)
	case wayDevice:
		token, err = deviceLogin(ctx, client, stderr)
	}
	if err != nil {
		return err
	}
	info, err := client.CurrentSession(ctx, token)
	if err != nil {
		return fmt.Errorf("signed in, but the session could not be read: %w", err)
	}
	se := &cli.CachedSession{BrokerURL: base, Provider: info.Provider, User: info.User, SessionID: info.ID,
		Token: token, CreatedAt: info.CreatedAt, ExpiresAt: info.ExpiresAt}
	// One session per broker and user: the one it replaces ends.
	if old, err := cache.Session(base, info.User); err == nil && old.SessionID != info.ID {
		endCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = client.EndSession(endCtx, old.Token)
		cancel()
	}
	if err := cache.SaveSession(se); err != nil {
		return fmt.Errorf("the session could not be cached: %w", err)
	}
	until := info.ExpiresAt.Local().Format("2006-01-02 15:04 MST")
	fmt.Fprintf(stdout, "Signed in to %s as %s (%s) until %s.\n", base, info.User, info.Provider, until)

	roles, err := pickRoles(info, f.roles, prev)
	if err != nil {
		return err
	}
	plan, err := planProfiles(roles, f.profile)
	if err != nil {
		return err
	}
	region := profileRegion(f, prev)
	var profiles []cli.ConfigProfile
	for _, p := range plan {
		profiles = append(profiles, cli.ConfigProfile{Name: p.name, Values: []cli.ConfigValue{
			{Key: "credential_process", Value: shellQuote(exe) + " credential-process --profile " + shellQuote(p.name)},
			{Key: "region", Value: region, IfMissing: !f.regionSet},
			{Key: cli.MarkerKey, Value: base},
			{Key: cli.RoleKey, Value: p.role},
		}})
	}
	if err := cli.UpdateConfigFile(cfgPath, profiles); err != nil {
		return err
	}
	for _, p := range plan {
		b := &cli.ProfileBinding{Profile: p.name, BrokerURL: base, User: info.User, Provider: info.Provider,
			RoleARN: p.role, Region: region, ConfigFile: cfgPath}
		if err := cache.RemoveKeys(p.name); err != nil {
			return err
		}
		if err := cache.SaveProfile(b); err != nil {
			return err
		}
	}
	if err := stepUpForRoles(ctx, client, cache, token, info, plan, ask, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %d profile(s) to %s:\n", len(plan), cfgPath)
	for _, p := range plan {
		fmt.Fprintf(stdout, "  %-20s %s\n", p.name, p.role)
	}
	fmt.Fprintf(stdout, "Try: aws sts get-caller-identity --profile %s --endpoint-url %s\n", plan[0].name, base)
	return nil
}

// selfPath is the absolute path of this idbroker, for the profiles'
// credential_process. A binary of `go run` is refused: it is deleted when
// the command ends.
func selfPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot tell where this idbroker is (for the profiles' credential_process): %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return "", err
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "", fmt.Errorf("this idbroker runs from a temporary build (%s, go run), which the profiles could not run later: build it (make build) and run bin/idbroker login", exe)
	}
	return exe, nil
}

// pickRoles are the role ARNs to write profiles for: those named with
// --role (each must be granted), else the role of the profile signed in
// again, else every granted role.
func pickRoles(info *cli.SessionInfo, asked []string, prev *cli.ProfileBinding) ([]string, error) {
	if len(info.Roles) == 0 {
		return nil, fmt.Errorf("no role is granted to %s: ask your administrator", info.User)
	}
	if len(asked) == 0 && prev != nil {
		for _, r := range info.Roles {
			if r == prev.RoleARN {
				return []string{r}, nil
			}
		}
	}
	if len(asked) == 0 {
		return info.Roles, nil
	}
	var out []string
	for _, a := range asked {
		found := ""
		for _, r := range info.Roles {
			if r == a || strings.EqualFold(roleName(r), a) {
				found = r
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("role %s is not granted to %s; granted: %s", a, info.User, roleNames(info.Roles))
		}
		out = append(out, found)
	}
	return out, nil
}

// roleName is the name of a role ARN (its path without "role/").
func roleName(arn string) string {
	if _, after, ok := strings.Cut(arn, ":role/"); ok {
		return after
	}
	return arn
}

func roleNames(arns []string) string {
	var names []string
	for _, a := range arns {
		names = append(names, roleName(a))
	}
	return strings.Join(names, ", ")
}

type plannedProfile struct{ name, role string }

// planProfiles names a profile per role: --profile for the one role, else
// the role's name (with the account when two roles share a name).
func planProfiles(roles []string, profile string) ([]plannedProfile, error) {
	if profile != "" {
		if len(roles) != 1 {
			return nil, fmt.Errorf("--profile names one profile, and %d roles are granted: pick one with --role (%s)", len(roles), roleNames(roles))
		}
		return []plannedProfile{{profile, roles[0]}}, nil
	}
	count := map[string]int{}
	for _, r := range roles {
		count[cli.ProfileNameForRole(r)]++
	}
	var out []plannedProfile
	seen := map[string]bool{}
	for _, r := range roles {
		name := cli.ProfileNameForRole(r)
		if count[name] > 1 {
			if parts := strings.Split(r, ":"); len(parts) > 4 && parts[4] != "" {
				name = cli.ProfileNameForRole(name + "-" + parts[4])
			}
		}
		if seen[name] {
			return nil, fmt.Errorf("roles %s would share the profile name %s: write them one at a time with --role and --profile", roleNames(roles), name)
		}
		seen[name] = true
		out = append(out, plannedProfile{name, r})
	}
	return out, nil
}

// profileRegion is --region, else the profile's region from its last
// sign-in, else the environment's, else us-east-1.
func profileRegion(f *loginFlags, prev *cli.ProfileBinding) string {
	switch {
	case f.region != "":
		return f.region
	case prev != nil && prev.Region != "":
		return prev.Region
	case os.Getenv("AWS_REGION") != "":
		return os.Getenv("AWS_REGION")
	case os.Getenv("AWS_DEFAULT_REGION") != "":
		return os.Getenv("AWS_DEFAULT_REGION")
	}
	return "us-east-1"
}
