module github.com/ext4relink/ext4relink

go 1.26
