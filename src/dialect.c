/* dialect.c - which sources feed provider "python", and which of its markers the interpreter has. */
#include <Python.h>

#include "dialect.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pyusdt_probeset pyusdt_dialect_native_set;

/* Set once, by pyusdt_dialect_sources() under pyusdt_sync's lock. */
static int checked;

#define STAPSDT_SECTION ".note.stapsdt"

/* The largest .note.stapsdt section read (CPython's holds a few dozen). */
#define NOTES_MAX (1 << 20)

static const struct {
    int probe;                 /* python probe */
    pyusdt_probeset sources;   /* pyusdt probes whose sources feed it */
} feeds[] = {
    {PYUSDT_function__entry,
     PYUSDT_BIT(PY_START) | PYUSDT_BIT(PY_RESUME) | PYUSDT_BIT(PY_THROW)},
    {PYUSDT_function__return,
     PYUSDT_BIT(PY_RETURN) | PYUSDT_BIT(PY_YIELD) | PYUSDT_BIT(PY_UNWIND)},
    {PYUSDT_line, PYUSDT_BIT(LINE)},
    {PYUSDT_gc__start, PYUSDT_BIT(GC_START)},
    {PYUSDT_gc__done, PYUSDT_BIT(GC_DONE)},
    {PYUSDT_import__find__load__start,
     PYUSDT_BIT(IMPORT_START) | PYUSDT_BIT(IMPORT_DONE)},
    {PYUSDT_import__find__load__done,
     PYUSDT_BIT(IMPORT_START) | PYUSDT_BIT(IMPORT_DONE)},
    {PYUSDT_audit, PYUSDT_BIT(AUDIT)},
};

/* The python probe named NAME, or -1. */
static int
python_probe(const char *name)
{
    for (int i = 0; i < PYUSDT_NPROBES; i++) {
        if (strcmp(pyusdt_probe_info[i].provider, "python") == 0
            && strcmp(pyusdt_probe_info[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

/* The python probes named by the stapsdt notes in NOTES (SIZE bytes).
 * A note is: namesz, descsz, type, "stapsdt\0" padded to 4, then three
 * addresses (pc, base, semaphore) and provider\0name\0args\0. */
static pyusdt_probeset
parse_notes(const char *notes, size_t size)
{
    pyusdt_probeset found = 0;
    size_t at = 0;
    while (at + sizeof(Elf64_Nhdr) <= size) {
        Elf64_Nhdr nhdr;
        memcpy(&nhdr, notes + at, sizeof(nhdr));
        size_t name_at = at + sizeof(nhdr);
        size_t desc_at = name_at + ((nhdr.n_namesz + 3) & ~3u);
        size_t next = desc_at + ((nhdr.n_descsz + 3) & ~3u);
        if (next > size || next <= at) {
            break;
        }
        if (nhdr.n_type == 3 && nhdr.n_namesz == 8
            && memcmp(notes + name_at, "stapsdt", 8) == 0
            && nhdr.n_descsz > 3 * 8) {
            const char *provider = notes + desc_at + 3 * 8;
            const char *end = notes + desc_at + nhdr.n_descsz;
            const char *name = memchr(provider, '\0',
                                      (size_t)(end - provider));
            if (name != NULL && ++name < end
                && memchr(name, '\0', (size_t)(end - name)) != NULL
                && strcmp(provider, "python") == 0) {
                int probe = python_probe(name);
                if (probe >= 0) {
                    found |= (pyusdt_probeset)1u << probe;
                }
            }
        }
        at = next;
    }
    return found;
}

/* Reads SIZE bytes at OFFSET of FD into a new buffer (free() it), or
 * NULL. */
static char *
read_at(int fd, off_t offset, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (buf != NULL && pread(fd, buf, size, offset) != (ssize_t)size) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* The python probes whose markers the ELF file PATH (64-bit) holds. */
static pyusdt_probeset
markers_in(const char *path)
{
    pyusdt_probeset found = 0;
    char *sections = NULL, *names = NULL, *notes = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    Elf64_Ehdr ehdr;
    if (fd < 0 || pread(fd, &ehdr, sizeof(ehdr), 0) != sizeof(ehdr)
        || memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0
        || ehdr.e_ident[EI_CLASS] != ELFCLASS64
        || ehdr.e_shentsize != sizeof(Elf64_Shdr)
        || ehdr.e_shstrndx >= ehdr.e_shnum) {
        goto done;
    }
    sections = read_at(fd, (off_t)ehdr.e_shoff,
                       (size_t)ehdr.e_shnum * sizeof(Elf64_Shdr));
    if (sections == NULL) {
        goto done;
    }
    Elf64_Shdr *shdr = (Elf64_Shdr *)sections;
    Elf64_Shdr *strtab = &shdr[ehdr.e_shstrndx];
    if (strtab->sh_size > NOTES_MAX) {
        goto done;
    }
    names = read_at(fd, (off_t)strtab->sh_offset, strtab->sh_size);
    for (int i = 0; names != NULL && i < ehdr.e_shnum; i++) {
        if (shdr[i].sh_type != SHT_NOTE || shdr[i].sh_name >= strtab->sh_size
            || shdr[i].sh_size > NOTES_MAX
            || strtab->sh_size - shdr[i].sh_name < sizeof(STAPSDT_SECTION)
            || strcmp(names + shdr[i].sh_name, STAPSDT_SECTION) != 0) {
            continue;
        }
        notes = read_at(fd, (off_t)shdr[i].sh_offset, shdr[i].sh_size);
        if (notes != NULL) {
            found |= parse_notes(notes, shdr[i].sh_size);
            free(notes);
            notes = NULL;
        }
    }
done:
    free(names);
    free(sections);
    if (fd >= 0) {
        close(fd);
    }
    return found;
}

/* Finds the loaded object that holds CPython's eval loop. */
struct where {
    uintptr_t address;
    char path[4096];
};

static int
find_object(struct dl_phdr_info *info, size_t Py_UNUSED(size), void *data)
{
    struct where *w = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && w->address >= start
            && w->address < start + ph->p_memsz) {
            /* N.B. the executable's own entry has an empty name. */
            const char *name = info->dlpi_name[0] ? info->dlpi_name
                                                  : "/proc/self/exe";
            snprintf(w->path, sizeof(w->path), "%s", name);
            return 1;
        }
    }
    return 0;
}

static pyusdt_probeset
look_for_native(void)
{
    struct where w = {.address = (uintptr_t)&PyEval_EvalCode, .path = ""};
    if (dl_iterate_phdr(find_object, &w) == 0) {
        return 0;
    }
    return markers_in(w.path);
}

pyusdt_probeset
pyusdt_dialect_sources(pyusdt_probeset attached)
{
    pyusdt_probeset want = attached & ~PYUSDT_PYTHON_SET;
    if (!(attached & PYUSDT_PYTHON_SET)) {
        return want;
    }
    if (!checked) {
        /* N.B. with the GIL held: pyusdt_sync's lock is held too, and a
         * few reads of one file, once, are not worth releasing it for. */
        pyusdt_probeset native = look_for_native();
        __atomic_store_n(&pyusdt_dialect_native_set, native, __ATOMIC_RELAXED);
        __atomic_store_n(&checked, 1, __ATOMIC_RELEASE);
    }
    pyusdt_probeset fed = attached & ~pyusdt_dialect_native();
    for (size_t i = 0; i < sizeof(feeds) / sizeof(feeds[0]); i++) {
        if (fed & ((pyusdt_probeset)1u << feeds[i].probe)) {
            want |= feeds[i].sources;
        }
    }
    return want;
}

pyusdt_probeset
pyusdt_dialect_native(void)
{
    return __atomic_load_n(&pyusdt_dialect_native_set, __ATOMIC_RELAXED);
}

int
pyusdt_dialect_checked(void)
{
    return __atomic_load_n(&checked, __ATOMIC_ACQUIRE);
}
