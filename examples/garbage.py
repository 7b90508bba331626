"""A program that leaves reference cycles behind, so that the garbage
collector runs on its own, in whatever function happens to allocate."""


class Node:
    def __init__(self, parent):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


def grow(depth, width):
    root = Node(None)
    level = [root]
    for _ in range(depth):
        level = [Node(parent) for parent in level for _ in range(width)]
    return root


def main():
    # Each tree is a cycle (parents and children point at each other) that
    # only the collector can free.
    for _ in range(40):
        grow(6, 3)
    print("done")


if __name__ == "__main__":
    main()
