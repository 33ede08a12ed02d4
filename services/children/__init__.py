"""The children read side: the child index, finding a child, the whole-story timeline, queues."""
