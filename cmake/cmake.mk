# CMake package files, so that CMake projects can find_package(tdill) and
# link the imported target tdill::tdill. They are installed in
# $(libdir)/cmake/tdill. make fills in the templates (configure.ac is left
# alone): @PACKAGE_VERSION@, @libdir@ and @includedir@ become this build's
# values.
cmakeconfigdir = $(libdir)/cmake/tdill
cmakeconfig_DATA = cmake/tdillConfig.cmake cmake/tdillConfigVersion.cmake
EXTRA_DIST += cmake/tdillConfig.cmake.in cmake/tdillConfigVersion.cmake.in
CLEANFILES += $(cmakeconfig_DATA)

# The [@] keeps configure from substituting these patterns in this file.
cmake_subst = $(SED) \
	-e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	-e 's|@libdir[@]|$(libdir)|g' \
	-e 's|@includedir[@]|$(includedir)|g'

cmake/tdillConfig.cmake: $(srcdir)/cmake/tdillConfig.cmake.in Makefile
	$(AM_V_GEN)$(MKDIR_P) cmake && \
	$(cmake_subst) $(srcdir)/cmake/tdillConfig.cmake.in > $@.tmp && \
	mv $@.tmp $@

cmake/tdillConfigVersion.cmake: $(srcdir)/cmake/tdillConfigVersion.cmake.in Makefile
	$(AM_V_GEN)$(MKDIR_P) cmake && \
	$(cmake_subst) $(srcdir)/cmake/tdillConfigVersion.cmake.in > $@.tmp && \
	mv $@.tmp $@
