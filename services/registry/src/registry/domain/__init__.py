"""The registry's pure logic: the promotion gate's rule."""
