package allusers

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// ThisComputer reads ProfileList: the profiles of everyone who ever signed
// in here (reading it needs no elevation; stopping their Berth does).
func ThisComputer() ([]Profile, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, ProfileListKey, registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil, fmt.Errorf("read the user profile list: %w", err)
	}
	defer k.Close()
	keys, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("read the user profile list: %w", err)
	}
	var entries []Entry
	var errs []error
	for _, key := range keys {
		if !personSID(key) {
			continue
		}
		e, err := readEntry(k, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	profiles, err := Profiles(entries, registry.ExpandString)
	return profiles, errors.Join(append(errs, err)...)
}

func readEntry(list registry.Key, key string) (Entry, error) {
	k, err := registry.OpenKey(list, key, registry.QUERY_VALUE)
	if err != nil {
		return Entry{}, fmt.Errorf("profile %s: %w", key, err)
	}
	defer k.Close()
	path, typ, err := k.GetStringValue("ProfileImagePath")
	if err != nil {
		return Entry{}, fmt.Errorf("profile %s: ProfileImagePath: %w", key, err)
	}
	e := Entry{Key: key, ImagePath: path, Expand: typ == registry.EXPAND_SZ}
	if sid, err := windows.StringToSid(key); err == nil {
		if name, domain, _, err := sid.LookupAccount(""); err == nil {
			e.Name = domain + `\` + name
		}
	}
	return e, nil
}
