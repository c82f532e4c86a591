package engine

import (
	"fmt"
	"path"
	"strings"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/super"
)

// --parents: the directories of a path that do not exist are created
// (mkdir -p inside the filesystem) in the relink's own transaction. They
// are owned by root, mode 0755 (what mkdir -p run by root makes with the
// usual umask 022); their times are the relink's.

// splitDir returns the components of a directory path ("/" gives none).
func splitDir(dir string) []string {
	dir = strings.Trim(dir, "/")
	if dir == "" {
		return nil
	}
	return strings.Split(dir, "/")
}

// missingDir returns the first directory of dir that does not exist ("" when
// all do).
func (p *Plan) missingDir(dir string) (string, error) {
	cur := uint32(ext4fs.RootIno)
	parts := splitDir(dir)
	for i, c := range parts {
		next, found, err := p.lookupDir(cur, c, parts[:i])
		if err != nil {
			return "", err
		}
		if !found {
			return "/" + strings.Join(parts[:i+1], "/"), nil
		}
		cur = next
	}
	return "", nil
}

func (p *Plan) lookupDir(cur uint32, name string, above []string) (uint32, bool, error) {
	d, err := p.OpenDir(cur)
	if err != nil {
		return 0, false, fmt.Errorf("resolving %q: %w", "/"+strings.Join(above, "/"), err)
	}
	return p.Lookup(d, []byte(name))
}

// ensureDir returns the directory inode dir names, creating the missing
// directories when create is set (refused without a journal).
func (p *Plan) ensureDir(dir string, create bool) (uint32, error) {
	cur := uint32(ext4fs.RootIno)
	parts := splitDir(dir)
	for i, c := range parts {
		next, found, err := p.lookupDir(cur, c, parts[:i])
		if err != nil {
			return 0, err
		}
		if !found {
			if next, err = p.mkdir(cur, parts[:i+1], create); err != nil {
				return 0, err
			}
		}
		cur = next
	}
	if _, err := p.OpenDir(cur); err != nil { // a directory, not deleted
		return 0, fmt.Errorf("%s: %w", "/"+strings.Join(parts, "/"), err)
	}
	return cur, nil
}

// mkdir creates the last directory of parts in parent.
func (p *Plan) mkdir(parent uint32, parts []string, create bool) (uint32, error) {
	at := "/" + strings.Join(parts, "/")
	if !create {
		return 0, fmt.Errorf("%w: the parent directory %s does not exist in this filesystem; add --parents to create it (in the same journal transaction), "+
			"or pick a directory that exists: /lost+found always does. Do not mount the filesystem to create one: any mount, even read-only, frees the orphans", ErrRequest, at)
	}
	if p.Ordered {
		return 0, super.Errorf(super.ErrUnsupported, fmt.Sprintf("directory %s (--parents)", at), super.NoBlock, -1, "%s", orderedMkdirRefusal)
	}
	ino, how, err := p.Mkdir(ext4fs.NewDir{Parent: parent, Name: []byte(parts[len(parts)-1]), Now: p.Now})
	if err != nil {
		return 0, err
	}
	p.Created = append(p.Created, CreatedDir{Path: at, Inode: ino, Parent: parent, DirChange: how})
	return ino, nil
}

// parentsFor creates, with --parents, the directories of target: the
// directory holding it (name set), or target itself (a --into directory).
func (p *Plan) parentsFor(parents bool, target, def string) error {
	if !parents {
		return nil
	}
	dir := target
	if def != "" {
		if dir == "" {
			dir = def
		}
	} else {
		dir = path.Dir("/" + strings.Trim(target, "/"))
	}
	_, err := p.ensureDir(dir, true)
	return err
}
